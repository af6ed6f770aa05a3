"""What each registered model needs as input: `archs.model_info(name) -> ModelInfo` (timm's pretrained_cfg).

Default input (costs.DEFAULT_INPUTS), the smallest square image it accepts (MIN_IMAGE_SIZES, measured with
`jax.eval_shape` and checked by tests/test_model_info.py at that size and one below), the preprocessing of its
reference (mean/std of [0, 1] pixels, resize interpolation, crop_pct: the fraction of the resized image the
evaluation centre crop keeps), the task kind, the classifier head's parameter name, and the reference it follows.
The training program reads it: an image smaller than the minimum is a one-line error naming the size to use, and a
run started from a reference checkpoint (`init_from`) normalises as that reference did.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib
import re

import flax
import jax
import jax.numpy as jnp

from archs import costs
from archs.registry import create_model, model_fields

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

# pattern: (mean/std, interpolation, crop_pct) of the reference's evaluation transform (first match wins).
PREPROCESSING = {
    "lenet5": (None, None, 1.0),                               # the paper's inputs: centred digits, no statistics
    "*_cifar": (CIFAR10, None, 1.0),
    "wide_resnet28_10": (CIFAR10, None, 1.0), "wide_resnet40_*": (CIFAR10, None, 1.0),
    "wide_resnet16_8": (CIFAR10, None, 1.0), "resnet110_stochastic_depth": (CIFAR10, None, 1.0),
    "fractalnet20": (CIFAR10, None, 1.0), "hyper_resnet40_1": (CIFAR10, None, 1.0),
    "vit_*": (INCEPTION, "bicubic", 0.9),                      # timm's augreg weights
    "swin_*": (IMAGENET, "bicubic", 0.9),                      # timm / torchvision
    "convnext_*": (IMAGENET, "bicubic", 0.875),                # timm
    "resnetrs*": (IMAGENET, "bicubic", 0.94),                  # timm
    "resnet50d": (IMAGENET, "bicubic", 0.875), "seresnet50": (IMAGENET, "bicubic", 0.875),
    "vanillanet_*": (IMAGENET, "bicubic", 0.875),              # the authors' timm-based transform
    "*": (IMAGENET, "bilinear", 0.875),                        # torchvision's ImageNet classifiers
}

# Smallest square input side each image model accepts (its feature maps stay non-empty and its pools fit), found
# with `min_image_size(name, measure=True)`; tests/test_model_info.py checks each at that size and one below.
MIN_IMAGE_SIZES: dict[str, int] = {
    **dict.fromkeys((
        "bam_resnet18", "bam_resnet34", "bam_resnet50", "convnext_base", "convnext_large", "convnext_small",
        "convnext_tiny", "convnext_xlarge", "densenet121", "densenet161", "densenet169", "densenet201",
        "hyper_resnet40_1", "mobilenet_v1_025", "mobilenet_v1_050", "mobilenet_v1_075", "mobilenet_v1_100",
        "plain110_cifar", "plain20_cifar", "plain32_cifar", "plain44_cifar", "plain56_cifar", "preact_resnet101",
        "preact_resnet152", "preact_resnet18", "preact_resnet34", "preact_resnet50", "resnet101", "resnet110_cifar",
        "resnet110_stochastic_depth", "resnet1202_cifar", "resnet152", "resnet18", "resnet200", "resnet20_cifar",
        "resnet32_cifar", "resnet34", "resnet44_cifar", "resnet50", "resnet50d", "resnet56_cifar", "resnetrs101",
        "resnetrs152", "resnetrs200", "resnetrs50", "resnext101_2x40d", "resnext101_32x4d", "resnext101_32x8d",
        "resnext101_4x24d", "resnext101_8x14d", "resnext50_2x40d", "resnext50_32x4d", "resnext50_4x24d",
        "resnext50_8x14d", "seresnet50", "vanillanet_10", "vanillanet_11", "vanillanet_12", "vanillanet_13",
        "vanillanet_13_x1_5", "vanillanet_5", "vanillanet_6", "vanillanet_7", "vanillanet_8", "vanillanet_9",
        "wide_resnet101_2", "wide_resnet16_8", "wide_resnet28_10", "wide_resnet40_1", "wide_resnet40_2",
        "wide_resnet40_4", "wide_resnet50_2"
    ), 1),
    "vanillanet_13_x1_5_ada_pool": 2,
    **dict.fromkeys((
        "resnet101_blur", "resnet18_blur", "resnet34_blur", "resnet50_blur"
    ), 3),
    "swin_base_patch4_window7_224": 4,
    "swin_small_patch4_window7_224": 4,
    "swin_tiny_patch4_window7_224": 4,
    "googlenet": 31,
    "googlenet_paper": 31,
    **dict.fromkeys((
        "fractalnet20", "lenet5", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
        "vgg19_bn", "vgg_a_lrn", "vgg_c"
    ), 32),
    "alexnet": 199,
    "alexnet_grouped": 199,
    "zfnet": 207,
    "zfnet_paper": 207,
    "vit_tiny_patch16_224": 16, "vit_small_patch16_224": 16, "vit_base_patch16_224": 16,
    "vit_large_patch16_224": 16, "vit_base_patch32_224": 32,
}

# Image models that take only sizes divisible by a field of theirs (ViT: its patch_size, 16 or 32 by default);
# the rest take every size from their minimum, up to MAX_IMAGE_SIZES (LeNet-5's C5 must reduce to 1x1).
SIZE_MULTIPLE_FIELDS = {"vit_*": "patch_size", "*": None}
MAX_IMAGE_SIZES = {"lenet5": 32}


@dataclasses.dataclass(frozen=True)
class ModelInfo:
  name: str
  task: str                         # "image", "tokens", "seq2seq", "graph" or "features"
  input_size: tuple                 # default input per positional input, without the batch axis
  min_image_size: int | None        # smallest square side for image models, else None
  image_size_multiple: int | None   # sizes must be multiples of this (ViT's patch), 1 for the others
  max_image_size: int | None        # the largest it takes, where bounded (LeNet-5: exactly 32)
  image_channels: int | None
  mean: tuple | None                # of [0, 1] pixels; None: no reference statistics
  std: tuple | None
  interpolation: str | None
  crop_pct: float | None
  output_size_field: str | None     # num_classes, vocab_size or num_outputs
  head: str | None                  # the top-level module holding the classifier (replaced when num_classes changes)
  reference: str                    # the first sentence of the model file's docstring
  checkpoint: str | None = None     # whose preprocessing this is: None the reference's; archs.pretrained_info sets
                                    # a checkpoint's (archs/weights/checkpoints.py)


def reference(docstring: str | None) -> str:
  """The first sentence of a module docstring's first paragraph ("et al." does not end it)."""
  paragraph = " ".join((docstring or "").strip().split("\n\n")[0].split())
  return re.split(r"(?<!\bal)\.(?:\s|$)", paragraph)[0]


def _first(table: dict, name: str):
  return next(v for pattern, v in table.items() if fnmatch.fnmatchcase(name, pattern))


def _task(specs) -> str:
  shapes = [s for s, _ in specs]
  if len(shapes) == 1 and len(shapes[0]) == 4:
    return "image"
  if all(d.startswith("int") for _, d in specs):
    return "tokens" if len(specs) == 1 else "seq2seq"
  return "graph" if len(specs) == 2 else "features"


def _head(model, specs) -> str | None:
  """The top-level module whose parameters end in the output size (found with an unusual class count)."""
  field = next((f for f in ("num_classes", "vocab_size", "num_outputs") if f in model_fields(model)), None)
  if field is None:
    return None
  probe = model.clone(**{field: 997})
  inputs = [jax.ShapeDtypeStruct(s, jnp.dtype(d)) for s, d in specs]
  params = jax.eval_shape(lambda *x: probe.init(jax.random.key(0), *x), *inputs).get("params", {})
  paths = [p for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0] if leaf.shape[-1:] == (997,)]
  return paths[-1][0].key if paths else None


def accepts(model, size: int, channels: int) -> bool:
  """Whether `model` initialises and runs on one size x size x channels image (shapes only)."""
  x = jax.ShapeDtypeStruct((1, size, size, channels), jnp.float32)
  try:
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
    jax.eval_shape(lambda v, x: model.apply(v, x), variables, x)
  except (ValueError, TypeError, ZeroDivisionError, flax.errors.FlaxError):  # a window larger than its input, ...
    return False
  return True


@functools.lru_cache(maxsize=None)
def min_image_size(name: str, measure: bool = False) -> int | None:
  """The smallest square side the image model `name` accepts: MIN_IMAGE_SIZES, or a bisection with `measure`."""
  if name in MIN_IMAGE_SIZES or not measure:
    return MIN_IMAGE_SIZES.get(name)
  (shape, _), = costs.default_inputs(name)
  model, channels = create_model(name), shape[-1]
  if accepts(model, 1, channels):
    return 1
  low, high = 2, shape[1]
  while low < high:
    mid = (low + high) // 2
    low, high = (low, mid) if accepts(model, mid, channels) else (mid + 1, high)
  return low


def image_size_multiple(name: str, **overrides) -> int:
  field = _first(SIZE_MULTIPLE_FIELDS, name)
  return getattr(create_model(name, **overrides), field) if field else 1


@functools.lru_cache(maxsize=None)
def model_info(name: str) -> ModelInfo:
  """The input and preprocessing facts of the registered model `name` (computed once, shapes only)."""
  model = create_model(name)
  specs = costs.default_inputs(name)
  task = _task(specs)
  stats, interpolation, crop_pct = _first(PREPROCESSING, name) if task == "image" else (None, None, None)
  field = next((f for f in ("num_classes", "vocab_size", "num_outputs") if f in model_fields(model)), None)
  return ModelInfo(
      name=name, task=task, input_size=tuple(tuple(s[1:]) if s[0] == 1 else tuple(s) for s, _ in specs),
      min_image_size=min_image_size(name) if task == "image" else None,
      image_size_multiple=image_size_multiple(name) if task == "image" else None,
      max_image_size=MAX_IMAGE_SIZES.get(name) if task == "image" else None,
      image_channels=specs[0][0][-1] if task == "image" else None,
      mean=stats[0] if stats else None, std=stats[1] if stats else None, interpolation=interpolation,
      crop_pct=crop_pct, output_size_field=field, head=_head(model, specs),
      reference=reference(importlib.import_module(type(model).__module__).__doc__))
