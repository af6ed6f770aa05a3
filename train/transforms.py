"""Per-image transforms on the host (numpy + Pillow), each a pure function of its inputs and a numpy Generator.

Training: `random_resized_crop` (+ `flip`), `rand_augment` on uint8 pixels, `normalize`, `random_erasing` on the
normalized image. Evaluation: `resize_center_crop` (shorter side to size / crop_pct, then the central size x size),
`normalize`. Semantics follow torchvision / timm (timm.data.transforms, auto_augment, random_erasing); the code is
ours. Batch-level mixing (mixup, cutmix) runs on the device: train/mixing.py.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from train import errors

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
INTERPOLATIONS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


def dataset_mean_std(name: str):
  """The per-channel mean/std (of [0, 1] pixels) of a small data set with statistics of its own, else None (the
  model's reference's are used: train/pipeline.preprocessing)."""
  return {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
          "mnist": (MNIST_MEAN, MNIST_STD), "fashion_mnist": ((0.2860,), (0.3530,))}.get(name.split("/")[0])


def _pil(image: np.ndarray) -> Image.Image:
  return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def _array(pil: Image.Image, channels: int) -> np.ndarray:
  return np.asarray(pil).reshape(pil.size[1], pil.size[0], channels)


def resize(image: np.ndarray, height: int, width: int, interpolation: str = "bilinear") -> np.ndarray:
  if image.shape[:2] == (height, width):
    return image
  return _array(_pil(image).resize((width, height), INTERPOLATIONS[interpolation]), image.shape[-1])


# ---------------------------------------------------------------- crops
def random_resized_crop_box(height: int, width: int, rng: np.random.Generator, scale=(0.08, 1.0),
                            ratio=(3 / 4, 4 / 3), attempts: int = 10):
  """(top, left, h, w) as torchvision's RandomResizedCrop.get_params: the area fraction uniform in `scale`, the
  aspect ratio w/h log-uniform in `ratio`; after `attempts` misses, the central crop with the ratio clamped."""
  area = height * width
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(attempts):
    target = area * rng.uniform(*scale)
    aspect = math.exp(rng.uniform(*log_ratio))
    w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
  in_ratio = width / height
  if in_ratio < min(ratio):
    w, h = width, int(round(width / min(ratio)))
  elif in_ratio > max(ratio):
    h, w = height, int(round(height * max(ratio)))
  else:
    w, h = width, height
  return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(image, size: int, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear"):
  top, left, h, w = random_resized_crop_box(*image.shape[:2], rng, scale, ratio)
  return resize(image[top:top + h, left:left + w], size, size, interpolation)


def pad_crop(image, rng, pad: int = 4):
  """A random crop of the zero-padded image, same size (the ResNet CIFAR recipe)."""
  h, w = image.shape[:2]
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  y, x = rng.integers(0, 2 * pad + 1, size=2)
  return padded[y:y + h, x:x + w]


def flip(image, rng):
  return image[:, ::-1] if rng.random() < 0.5 else image


def resize_center_crop(image, size: int, crop_pct: float = 0.875, interpolation="bilinear"):
  """Evaluation: the shorter side resized to floor(size / crop_pct) (timm), then the central size x size."""
  if not 0 < crop_pct <= 1:
    raise errors.UserError(f"crop_pct={crop_pct}; accepted: 0 < crop_pct <= 1")
  h, w = image.shape[:2]
  short = math.floor(size / crop_pct)
  nh, nw = (short, max(short, round(w * short / h))) if h <= w else (max(short, round(h * short / w)), short)
  image = resize(image, nh, nw, interpolation)
  top, left = int(round((nh - size) / 2)), int(round((nw - size) / 2))
  return image[top:top + size, left:left + size]


def normalize(image: np.ndarray, mean, std) -> np.ndarray:
  """uint8 (or [0, 255]) pixels -> float32 (x / 255 - mean) / std per channel."""
  return ((image.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32))


# ---------------------------------------------------------------- random erasing (timm, mode 'pixel')
def random_erasing(image: np.ndarray, rng, prob: float, area=(0.02, 1 / 3), log_ratio=(math.log(0.3),
                   math.log(1 / 0.3)), attempts: int = 10) -> np.ndarray:
  """With probability `prob`, one rectangle (area fraction uniform in `area`, log-uniform aspect) of the normalized
  image replaced by standard-normal noise per pixel and channel (timm's RandomErasing, mode='pixel', count 1)."""
  if prob <= 0 or rng.random() >= prob:
    return image
  height, width, channels = image.shape
  for _ in range(attempts):
    target = height * width * rng.uniform(*area)
    aspect = math.exp(rng.uniform(*log_ratio))
    h, w = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
    if h < height and w < width:
      top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
      image = image.copy()
      image[top:top + h, left:left + w] = rng.standard_normal((h, w, channels), np.float32)
      return image
  return image


# ---------------------------------------------------------------- RandAugment (timm 'rand-m{m}-n{n}-mstd{s}-inc1')
def _signed(value, rng):
  return -value if rng.random() < 0.5 else value


def _affine(pil, coeffs, fill):
  return pil.transform(pil.size, Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=fill)


def _enhance(cls):
  return lambda pil, level, rng, fill: cls(pil).enhance(1.0 + _signed(0.9 * level, rng))


# Each op: (PIL image, level in [0, 1], rng, fill) -> PIL image; the 'increasing' forms: a larger level is stronger.
RAND_OPS = {
    "AutoContrast": lambda pil, level, rng, fill: ImageOps.autocontrast(pil),
    "Equalize": lambda pil, level, rng, fill: ImageOps.equalize(pil),
    "Invert": lambda pil, level, rng, fill: ImageOps.invert(pil),
    "Rotate": lambda pil, level, rng, fill: pil.rotate(_signed(30.0 * level, rng), resample=Image.BILINEAR,
                                                         fillcolor=fill),
    "PosterizeIncreasing": lambda pil, level, rng, fill: _posterize(pil, 4 - int(4 * level)),
    "SolarizeIncreasing": lambda pil, level, rng, fill: ImageOps.solarize(pil, 256 - min(256, int(256 * level))),
    "SolarizeAdd": lambda pil, level, rng, fill: _solarize_add(pil, min(128, int(110 * level))),
    "ColorIncreasing": _enhance(ImageEnhance.Color),
    "ContrastIncreasing": _enhance(ImageEnhance.Contrast),
    "BrightnessIncreasing": _enhance(ImageEnhance.Brightness),
    "SharpnessIncreasing": _enhance(ImageEnhance.Sharpness),
    "ShearX": lambda pil, level, rng, fill: _affine(pil, (1, _signed(0.3 * level, rng), 0, 0, 1, 0), fill),
    "ShearY": lambda pil, level, rng, fill: _affine(pil, (1, 0, 0, _signed(0.3 * level, rng), 1, 0), fill),
    "TranslateXRel": lambda pil, level, rng, fill: _affine(
        pil, (1, 0, _signed(0.45 * level, rng) * pil.size[0], 0, 1, 0), fill),
    "TranslateYRel": lambda pil, level, rng, fill: _affine(
        pil, (1, 0, 0, 0, 1, _signed(0.45 * level, rng) * pil.size[1]), fill),
}


def _posterize(pil, bits: int):
  """Keeps the `bits` most significant bits (0 bits: black, as the TF/UDA definition; Pillow refuses 0)."""
  mask = np.uint8((0xFF << (8 - bits)) & 0xFF)
  return Image.fromarray(np.asarray(pil) & mask)


def _solarize_add(pil, add, threshold=128):
  x = np.asarray(pil).astype(np.int32)
  return Image.fromarray(np.where(x < threshold, np.minimum(x + add, 255), x).astype(np.uint8))


def rand_augment(image: np.ndarray, rng, n: int, m: float, mstd: float = 0.5, prob: float = 0.5,
                 fill=(124, 116, 104)) -> np.ndarray:
  """timm's RandAugment on uint8 pixels: `n` ops drawn with replacement, each applied with probability `prob` at
  magnitude m + N(0, mstd) clipped to [0, 10] (level = magnitude / 10); fill: ImageNet's mean pixel."""
  if n <= 0:
    return image
  names = list(RAND_OPS)
  pil = _pil(image)
  fill = fill[0] if pil.mode == "L" else tuple(fill)
  for name in rng.choice(names, size=n, replace=True):
    if rng.random() >= prob:
      continue
    magnitude = float(np.clip(rng.normal(m, mstd) if mstd > 0 else m, 0.0, 10.0))
    pil = RAND_OPS[name](pil, magnitude / 10.0, rng, fill)
  return _array(pil, image.shape[-1])
