"""Predict image files with a run: `python -m train.predict --workdir W img.png [more.jpg ...] [--top K]`.

Restores the newest checkpoint of W read-only, as `train.evaluate` does (its evaluation variables: the EMA ones
when the run keeps them), preprocesses each file as the run's evaluation did and prints the top-K classes (5 by
default) with their softmax probabilities, by name where the dataset names its classes:

  cat.jpg: cat 0.912, dog 0.051, deer 0.013, frog 0.009, bird 0.006

Preprocessing: TFDS datasets: the file in RGB (grey for 1-channel runs), the shorter side resized to
image_size / crop_pct, the central image_size square, the run's mean/std (train/pipeline.py, the eval form).
The embedded digits: the dataset's own form, 8x8 grey where ink is light on dark (UCI: counts of ink pixels in
4x4 blocks of a 32x32 bitmap), so the file is turned grey, box-filtered to 8x8 (each value the mean of its block,
as the counts are), scaled to [0, 1], then resized and normalized as the run's digits (train/data.py
digits_input); `--invert` first for dark ink on light paper.
"""
from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

from train import analyze_run, data, errors


def read_image(path: str, mode: str) -> np.ndarray:
  """The file's pixels as uint8 (H, W, C) in Pillow mode 'RGB' or 'L'; one-line errors for a bad file."""
  from PIL import Image, UnidentifiedImageError
  if not os.path.isfile(path):
    raise errors.UserError(f"image {path!r} does not exist; accepted: paths of image files")
  try:
    with Image.open(path) as image:
      pixels = np.asarray(image.convert(mode))
  except (UnidentifiedImageError, OSError, ValueError) as e:
    raise errors.UserError(f"image {path!r} cannot be read ({e}); accepted: files Pillow reads (PNG, JPEG, ...)")
  return pixels.reshape(*pixels.shape[:2], -1)


def digits_form(pixels: np.ndarray, invert: bool = False) -> np.ndarray:
  """uint8 (H, W, 1) grey -> (8, 8, 1) in [0, 1], ink high: the embedded digits' form (see the module doc)."""
  from PIL import Image
  grey = 255 - pixels[..., 0] if invert else pixels[..., 0]
  small = Image.fromarray(np.ascontiguousarray(grey)).resize((8, 8), Image.BOX)
  return (np.asarray(small, np.float32) / 255.0)[..., None]


class Predictor:
  """A run's model, evaluation variables and preprocessing: `top(paths, k)` -> [(path, [(class, prob), ...])]."""

  def __init__(self, workdir: str, invert: bool = False):
    self.run = run = analyze_run.load(workdir)
    if run.config.task != "classification":
      raise errors.UserError(f"--workdir {workdir} trained task {run.config.task!r}; accepted: a classification run")
    self.invert, self.names = invert, class_names(run.config)
    self._logits = jax.jit(lambda v, x: run.model.apply(v, x, train=False, **run.scheduled_args))
    if run.config.dataset == "digits":
      self._stats = data.load_digits(run.config)[2]["digits_stats"]
    elif not hasattr(run.eval_source, "transform"):
      raise errors.UserError(f"dataset {run.config.dataset!r} has no image files to mirror; accepted: runs on "
                             f"digits or a TFDS image dataset")

  def preprocess(self, path: str) -> np.ndarray:
    """One file as the model's (H, W, C) float32 input."""
    config = self.run.config
    if config.dataset == "digits":
      return data.digits_input(digits_form(read_image(path, "L"), self.invert)[None], config, self._stats)[0][0]
    pixels = read_image(path, "L" if config.image_channels == 1 else "RGB")
    return self.run.eval_source.transform.eval({"image": pixels, "label": 0})["image"]

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    return np.asarray(jax.nn.softmax(self._logits(self.run.variables, images).astype(np.float32), axis=-1))

  def top(self, paths, k: int = 5):
    probs = self.probabilities(np.stack([self.preprocess(p) for p in paths]))
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    return [(path, [(self.name(c), float(p[c])) for c in row]) for path, p, row in zip(paths, probs, order)]

  def name(self, index: int) -> str:
    return self.names[index] if index < len(self.names) else str(index)


def class_names(config) -> list[str]:
  """The dataset's class names (TFDS label names; the digits' own digits); [] when it has none."""
  if config.dataset == "digits":
    return [str(d) for d in range(10)]
  if config.dataset in data.BUILTIN:
    return []
  import tensorflow_datasets as tfds
  label = tfds.builder(config.dataset.removeprefix("tfds:"), data_dir=config.data_dir or None).info.features["label"]
  return list(getattr(label, "names", None) or [])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
  parser.add_argument("--top", type=int, default=5, help="how many classes to print per image (5)")
  parser.add_argument("--invert", action="store_true", help="digits runs: dark ink on light paper")
  a = parser.parse_args(argv)
  try:
    if a.top < 1:
      raise errors.UserError(f"--top {a.top}; accepted: 1 or more")
    for path in a.images:  # a missing file stops before the checkpoint is read
      if not os.path.isfile(path):
        raise errors.UserError(f"image {path!r} does not exist; accepted: paths of image files")
    predictor = Predictor(a.workdir, a.invert)
    for path, classes in predictor.top(a.images, a.top):
      print(f"{path}: " + ", ".join(f"{name} {p:.3f}" for name, p in classes))
  except errors.UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return errors.EXIT_USER_ERROR
  return 0


if __name__ == "__main__":
  sys.exit(main())
