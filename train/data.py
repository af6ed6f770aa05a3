"""Datasets and batches. A source is random access over example dicts (`len(src)`, `src[i]`).

Built in:
- `digits`: scikit-learn's 8x8 handwritten digits, embedded as train/data/digits.csv.gz (1797 images, 10 classes,
  values 0..16; source: UCI Optical Recognition of Handwritten Digits, Alpaydin & Kaynak 1998, CC BY 4.0).
  Fixed split: a permutation seeded with 0 gives the first 1437 to train, the last 360 to test (whatever the
  run's seed). Resized once (bilinear) to image_size, scaled to [0, 1], normalized with the train mean/std.
- `synthetic`: normal images and uniform labels, a pure function of the seed (benchmarks).
- any TFDS name (`cifar10`, `mnist`, or `tfds:NAME`): `tfds.data_source` (array_record, decoded with Pillow,
  no TensorFlow), transformed by config.aug (train/pipeline.py, train/transforms.py): training crops, flip,
  RandAugment, erasing; evaluation resize + centre crop; per-dataset mean/std. Never downloads; an unprepared
  dataset is a UserError saying how to prepare it.

Order: the train batch at (epoch, step) is a pure function of (seed, epoch, step): each epoch is a grain
shuffle of this host's shard with a seed derived from (seed, epoch), and batch `step` is element `step` of the
batched dataset. A resumed run therefore sees exactly the batches an unbroken run would. The incomplete last
train batch is dropped; evaluation pads the last batch and masks the padding, so every example counts once.
"""
from __future__ import annotations

import dataclasses
import gzip
import os

import grain
import jax
import numpy as np

import archs
from train import errors, pipeline, transforms

BUILTIN = ("digits", "synthetic")
_DIGITS = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")
DIGITS_TRAIN = 1437


class ArraySource:
  """Random access over in-memory arrays that share their first axis."""

  def __init__(self, arrays: dict[str, np.ndarray]):
    self.arrays = arrays

  def __len__(self):
    return len(next(iter(self.arrays.values())))

  def __getitem__(self, i):
    return {k: v[i] for k, v in self.arrays.items()}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  n, _, _, c = images.shape
  return np.asarray(jax.image.resize(images, (n, size, size, c), "bilinear"))


def _channels(images: np.ndarray, channels: int, name: str) -> np.ndarray:
  if images.shape[-1] == channels:
    return images
  if images.shape[-1] == 1:  # gray replicated for 3-channel models
    return np.repeat(images, channels, axis=-1)
  raise errors.UserError(f"dataset {name!r} has {images.shape[-1]} channels, cannot give image_channels={channels}; "
                         f"accepted: {images.shape[-1]}")


def load_digits(config):
  """(train, test) ArraySources of digits at config.image_size x image_size x image_channels."""
  images, labels = digits_table()
  images, stats = digits_input(images, config)
  split = lambda s: ArraySource({"image": images[s], "label": labels[s]})
  return (split(slice(0, DIGITS_TRAIN)), split(slice(DIGITS_TRAIN, None)),
          {"num_classes": _classes(config, 10), "digits_stats": stats})


def digits_table():
  """(images (1797, 8, 8, 1) in [0, 1], labels) in the fixed order: the first DIGITS_TRAIN train, the rest test."""
  with gzip.open(_DIGITS, "rt") as f:
    table = np.loadtxt(f, delimiter=",", comments="#", dtype=np.float32)
  images, labels = table[:, :64].reshape(-1, 8, 8, 1) / 16.0, table[:, 64].astype(np.int32)
  order = np.random.default_rng(0).permutation(len(labels))
  return images[order], labels[order]


def digits_input(images: np.ndarray, config, stats=None):
  """(N, 8, 8, 1) digits in [0, 1] (ink high) -> (the model's input, (mean, std)): resized (bilinear) to
  image_size, channels replicated, normalized with `stats`; by default those pipeline.preprocessing fills in
  (the first DIGITS_TRAIN images' own, or aug's, or an init_from reference's)."""
  images = _channels(_resize(images, config.image_size), config.image_channels, "digits")
  if stats is None:
    own = (images[:DIGITS_TRAIN].mean(),), (images[:DIGITS_TRAIN].std(),)
    filled = pipeline.preprocessing(config.aug, own, config.model, bool(config.init_from), config.init_from)
    for key in ("mean", "std"):
      if len(filled[key]) not in (1, config.image_channels):
        raise errors.UserError(f"aug.{key}={filled[key]} for {config.image_channels}-channel digits; accepted: 1 "
                               f"or {config.image_channels} values (image_channels)")
    stats = filled["mean"], filled["std"]
  return ((images - np.asarray(stats[0])) / np.asarray(stats[1])).astype(np.float32), stats


def _classes(config, in_dataset: int) -> int:
  """The model's output size: the dataset's classes, or more (a head larger than the labels need) when asked."""
  if 0 < config.num_classes < in_dataset:
    raise errors.UserError(f"num_classes={config.num_classes} is fewer than the {in_dataset} classes of "
                           f"{config.dataset}; accepted: 0 (from the dataset) or >= {in_dataset}")
  return config.num_classes or in_dataset


def load_synthetic(config):
  num_classes = config.num_classes or 10
  shape = (config.image_size, config.image_size, config.image_channels)

  def make(n, seed):
    rng = np.random.default_rng([config.seed, seed])
    return ArraySource({"image": rng.standard_normal((n, *shape), np.float32),
                        "label": rng.integers(0, num_classes, n).astype(np.int32)})
  return make(config.synthetic_examples, 0), make(max(config.batch_size, 256), 1), {"num_classes": num_classes}


PREPARE = 'pip install -e ".[train,prepare]" && tfds build {name} --file_format array_record{where}'


def prepare_command(name: str, data_dir: str = "") -> str:
  """The one command (from the repository's root) that prepares a TFDS dataset; README names the same."""
  return PREPARE.format(name=name, where=f" --data_dir {data_dir}" if data_dir else "")


def _tfds_source(name, split, data_dir):
  import tensorflow_datasets as tfds  # heavy import, only when a TFDS dataset is used
  not_prepared = errors.UserError(
      f"TFDS dataset {name!r} split {split!r} is not prepared in {data_dir or 'the TFDS default data_dir'}; "
      f"prepare it once (from the repository root) with: {prepare_command(name, data_dir)}")
  try:
    tfds.builder(name, data_dir=data_dir or None)  # only to tell an unknown name from an unprepared dataset
  except tfds.core.registered.DatasetNotFoundError:
    raise errors.UserError(f"unknown dataset {name!r}; accepted: {', '.join(BUILTIN)} or a TFDS dataset name") from None
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
  except (NotImplementedError, FileNotFoundError, AssertionError, ValueError, KeyError):  # KeyError: 'splits is empty'
    raise not_prepared from None


class TfdsImages:
  """A TFDS image source: {'image': uint8 HWC as stored (decoded with Pillow), 'label'}; transformed later."""

  def __init__(self, src):
    self.src = src

  def __len__(self):
    return len(self.src)

  def __getitem__(self, i):
    ex = self.src[i]
    return {"image": np.asarray(ex["image"]), "label": np.int32(ex["label"])}


def load_tfds(config):
  name = config.dataset.removeprefix("tfds:")
  train = _tfds_source(name, config.train_split, config.data_dir)
  test = _tfds_source(name, config.eval_split, config.data_dir)
  import tensorflow_datasets as tfds
  num_classes = _classes(config, tfds.builder(name, data_dir=config.data_dir or None).info.features[
      "label"].num_classes)
  return TfdsImages(train), TfdsImages(test), {"num_classes": num_classes, "decoded": name}


def preprocessing_record(config):
  """archs.ModelInfo of the run's model with the pixel preprocessing its evaluation used (for save_variables'
  `info`): the image size and the mean/std, crop_pct and interpolation ImageTransform fills in. None for the
  built-in data (digits are 8x8 arrays standardised at load, synthetic data is noise)."""
  if config.dataset in BUILTIN or archs.model_info(config.model).task != "image":
    return None
  filled = pipeline.preprocessing(config.aug, transforms.dataset_mean_std(config.dataset.removeprefix("tfds:")),
                                  config.model, bool(config.init_from), config.init_from)
  return dataclasses.replace(
      archs.model_info(config.model), input_size=((config.image_size, config.image_size, config.image_channels),),
      checkpoint=f"a {config.model} run on {config.dataset}", **filled)


def image_classification(config):
  """(train, eval, info) sources of {'image', 'label'}, the whole data set."""
  loader = {"digits": load_digits, "synthetic": load_synthetic}.get(config.dataset, load_tfds)
  train, test, info = loader(config)
  if "decoded" in info:  # uint8 images as stored: resized, cropped, augmented and normalized in the workers
    transform = pipeline.ImageTransform(config.aug, config.image_size, config.image_channels,
                                        info.pop("decoded"), bool(config.augment), config.model,
                                        bool(config.init_from), config.init_from)
    train, test = pipeline.Transformed(train, transform), pipeline.Transformed(test, transform)
  return train, test, info


class Shard:
  """Examples process_index, process_index + process_count, ... of a source."""

  def __init__(self, src, index, count):
    self.src, self.index, self.count = src, index, count

  def __len__(self):
    return (len(self.src) - self.index + self.count - 1) // self.count

  def __getitem__(self, i):
    return self.src[self.index + i * self.count]


# ---------------------------------------------------------------- augmentation
def crop_flip(example, rng: np.random.Generator, pad: int = 4):
  """Random crop of the zero-padded image and a random horizontal flip (ResNet CIFAR recipe)."""
  image = example["image"]
  h, w = image.shape[:2]
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  y, x = rng.integers(0, 2 * pad + 1, size=2)
  image = padded[y:y + h, x:x + w]
  if rng.random() < 0.5:
    image = image[:, ::-1]
  return {**example, "image": np.ascontiguousarray(image)}


# ---------------------------------------------------------------- batches
def epoch_seed(seed: int, epoch: int) -> int:
  return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_epoch(source, seed: int, epoch: int, global_batch: int, augment: bool, process_index: int = 0,
                process_count: int = 1):
  """This host's batches of one epoch as a grain MapDataset: ds[step] is the batch at (seed, epoch, step).

  `source` is the whole training set on every host: the epoch is one shuffle of it, and host p takes rows
  p * local .. (p + 1) * local of each global batch, so the order is the same for any number of hosts.
  Example i is read (decoded, augmented) where the dataset is evaluated, in grain's workers if any; its
  augmentation is drawn from (seed, epoch, i). Sources with `train_example(i, rng)` (TFDS images) augment as
  config.aug says; in-memory arrays (digits, synthetic) take the pad-4 crop and flip.
  """
  def example(i):
    if not augment and not hasattr(source, "train_example"):
      return source[i]
    rng = np.random.default_rng([seed, epoch, i])
    return source.train_example(i, rng) if hasattr(source, "train_example") else crop_flip(source[i], rng)
  order = grain.MapDataset.range(len(source)).shuffle(seed=epoch_seed(seed, epoch))
  local = global_batch // process_count
  if process_count > 1:  # only this host's rows are read (and decoded)
    shuffled, steps = order, len(order) // global_batch
    order = grain.MapDataset.range(steps * local).map(
        lambda i: shuffled[(i // local) * global_batch + process_index * local + i % local])
  return order.map(example).batch(local, drop_remainder=True)


def steps_per_epoch(source, global_batch: int) -> int:
  return len(source) // global_batch


def device_batches(ds, start: int, k: int, num_devices: int):
  """Batches start..start+k-1 of `ds` as arrays of shape (devices, k, per_device_batch, ...)."""
  batches = [ds[start + i] for i in range(k)]
  return jax.tree.map(
      lambda *xs: np.stack(xs).reshape(k, num_devices, -1, *xs[0].shape[1:]).swapaxes(0, 1), *batches)


def eval_batches(source, local_batch: int, num_batches: int, num_devices: int):
  """Yields (devices, per_device_batch, ...) batches with 'mask'; the last is padded with mask 0."""
  ds = grain.MapDataset.source(source).batch(local_batch, drop_remainder=False)
  it = iter(ds.to_iter_dataset(grain.ReadOptions()))  # read (decoded, resized) ahead by grain's threads, in order
  first = None
  for b in range(num_batches):
    if b < len(ds):
      batch = next(it)
      n = len(jax.tree.leaves(batch)[0])
      first = batch if first is None else first
    else:  # this host ran out (uneven shards): an all-padding batch keeps the collectives in step
      batch, n = jax.tree.map(lambda x: np.zeros_like(x[:1]), first if first is not None else ds[0]), 0
    pad = lambda x: np.concatenate([x, np.zeros((local_batch - len(x), *x.shape[1:]), x.dtype)])
    batch = jax.tree.map(pad, batch)
    batch["mask"] = (np.arange(local_batch) < n).astype(np.float32)
    yield jax.tree.map(lambda x: x.reshape(num_devices, -1, *x.shape[1:]), batch)


def num_eval_batches(total_examples: int, process_count: int, local_batch: int) -> int:
  largest_shard = -(-total_examples // process_count)
  return -(-largest_shard // local_batch)
