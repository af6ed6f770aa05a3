"""From a source of decoded examples to device batches: per-example transforms, grain workers, device prefetch.

- `ImageTransform`: the training and evaluation transforms of config.aug for one dataset (train/transforms.py).
- `Transformed`: a source whose `src[i]` is the evaluation form and `train_example(i, rng)` the augmented one;
  the reading (TFDS decoding) and the transforms run where grain calls them: in its worker processes.
- `across_epochs`: the batches of every epoch of a run as one MapDataset (batch e * steps + s is batch s of epoch
  e), so one reader and one set of worker processes serve the whole run and read on into the next epoch while
  the current one ends and is evaluated.
- `train_calls`: the batches from a step on, grouped K per device call, produced by `data_workers` grain
  processes (the order is that of the MapDataset, whatever the number of workers), and put on the devices
  `prefetch_calls` calls ahead by a thread while the current step runs (double buffering for 2).
"""
from __future__ import annotations

import collections
import os
import queue
import threading

import grain
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import archs
from train import errors, transforms as T

CROPS = ("pad", "random_resized", "none")


def preprocessing(aug, own_stats, model: str = "", from_reference: bool = False, checkpoint: str = "") -> dict:
  """aug's mean, std, crop_pct and interpolation, each filled in where aug leaves it unset ((), 0, '').

  Normalisation: a run from a reference checkpoint (`from_reference`, init_from) takes its reference's mean/std
  (archs.model_info), which its weights expect; a run from scratch on a data set with statistics of its own
  (`own_stats`: CIFAR, MNIST, the embedded digits) takes those, since its weights expect nothing and these centre
  and scale the data it sees (ImageNet's numbers would leave MNIST's mean near -1.5); any other data set (ImageNet,
  Imagenette, ...) takes the model's reference's (ImageNet's where the model has none). Crop and interpolation:
  the small data sets with statistics of their own are seen whole (crop_pct 1, bilinear), any other takes the
  model's reference's evaluation crop and interpolation. `checkpoint` (init_from's source): its own record
  (archs.pretrained_info: e.g. torchvision's V2 ResNet-50 crops 224 of 232) instead of the model's reference's.
  """
  wanted = model and (from_reference or own_stats is None)
  info = (archs.pretrained_info(model, checkpoint) if checkpoint else archs.model_info(model)) if wanted else None
  reference = (info.mean, info.std) if info is not None and info.mean else None
  if from_reference and reference:
    stats = reference
  else:
    stats = own_stats or reference or (T.IMAGENET_MEAN, T.IMAGENET_STD)
  crop_pct, interpolation = 1.0, "bilinear"
  if own_stats is None and info is not None:
    crop_pct, interpolation = info.crop_pct or crop_pct, info.interpolation or interpolation
  return {"mean": tuple(aug.mean) or tuple(stats[0]), "std": tuple(aug.std) or tuple(stats[1]),
          "crop_pct": aug.crop_pct or crop_pct, "interpolation": aug.interpolation or interpolation}


class ImageTransform:
  """Picklable (worker processes) transforms of {'image': uint8 HWC, 'label'} examples to float32 images."""

  def __init__(self, aug, image_size: int, channels: int, dataset: str, augment: bool, model: str = "",
               from_reference: bool = False, checkpoint: str = ""):
    """`model`, `from_reference`, `checkpoint`: what fills aug's unset mean/std/crop_pct/interpolation
    (`preprocessing`)."""
    errors.check_name("aug.crop", aug.crop, CROPS)
    filled = preprocessing(aug, T.dataset_mean_std(dataset), model, from_reference, checkpoint)
    errors.check_name("aug.interpolation", filled["interpolation"], T.INTERPOLATIONS)
    self.mean, self.std = filled["mean"], filled["std"]
    if len(self.mean) != len(self.std):
      raise errors.UserError(f"aug.mean={self.mean} and aug.std={self.std} differ in length; accepted: one value "
                             f"per channel for both")
    if len(self.mean) not in (1, channels):
      raise errors.UserError(f"aug.mean={self.mean} has {len(self.mean)} values for image_channels={channels}; "
                             f"accepted: 1 or {channels} values")
    self.aug = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in {**aug, **filled}.items()}
    self.size, self.channels, self.dataset, self.augment = image_size, channels, dataset, augment

  def _finish(self, image):
    if image.shape[-1] != self.channels:
      if image.shape[-1] != 1:
        raise errors.UserError(f"dataset {self.dataset!r} has {image.shape[-1]} channels, cannot give "
                               f"image_channels={self.channels}; accepted: {image.shape[-1]}")
      image = np.repeat(image, self.channels, axis=-1)  # gray replicated for 3-channel models
    return T.normalize(image, self.mean, self.std)

  def eval(self, example):
    image = T.resize_center_crop(np.asarray(example["image"]), self.size, self.aug["crop_pct"],
                                 self.aug["interpolation"])
    return {"image": self._finish(image), "label": np.int32(example["label"])}

  def train(self, example, rng: np.random.Generator):
    if not self.augment:
      return self.eval(example)
    a, image = self.aug, np.asarray(example["image"])
    if a["crop"] == "random_resized":
      image = T.random_resized_crop(image, self.size, rng, a["scale"], a["ratio"], a["interpolation"])
    else:
      image = T.resize_center_crop(image, self.size, a["crop_pct"], a["interpolation"])
      if a["crop"] == "pad":
        image = T.pad_crop(image, rng, a["pad"])
    if a["flip"]:
      image = T.flip(image, rng)
    image = T.rand_augment(np.ascontiguousarray(image), rng, a["randaugment_n"], a["randaugment_m"],
                           a["randaugment_mstd"])
    image = T.random_erasing(self._finish(image), rng, a["erasing"])
    return {"image": np.ascontiguousarray(image), "label": np.int32(example["label"])}


class Transformed:
  """`src[i]`: the evaluation form of example i; `train_example(i, rng)`: its training form."""

  def __init__(self, src, transform: ImageTransform):
    self.src, self.transform = src, transform

  def __len__(self):
    return len(self.src)

  def __getitem__(self, i):
    return self.transform.eval(self.src[i])

  def train_example(self, i, rng):
    return self.transform.train(self.src[i], rng)


def resolve_workers(requested: int, source) -> int:
  """data_workers: -1 = one per CPU core this process may use, less one for the main process, for sources that
  decode (`Transformed`); in-memory arrays (digits, synthetic) are read in the main process."""
  if requested < -1:
    raise errors.UserError(f"data_workers={requested}; accepted: -1 (from the CPU count), 0 (none) or more")
  if requested >= 0:
    return requested
  if not hasattr(source, "train_example"):
    return 0
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
  return max(0, cores - 1)


class _RunBatch:
  """j -> batch j of the run: batch j % steps of epoch_fn(j // steps). Keeps the datasets of the last two epochs
  read (threads may straddle an epoch's end); pickled without them into grain's worker processes."""

  def __init__(self, epoch_fn, steps_per_epoch: int):
    self.epoch_fn, self.steps, self._epochs = epoch_fn, steps_per_epoch, {}

  def __getstate__(self):
    return {**self.__dict__, "_epochs": {}}

  def __call__(self, j):
    epoch, step = divmod(int(j), self.steps)
    ds = self._epochs.get(epoch)
    if ds is None:  # a new dict, swapped in one assignment: safe for grain's reader threads
      ds = self.epoch_fn(epoch)
      self._epochs = {**{e: d for e, d in self._epochs.items() if e >= epoch - 1}, epoch: ds}
    return ds[step]


def across_epochs(epoch_fn, steps_per_epoch: int, total_steps: int) -> grain.MapDataset:
  """The run's `total_steps` batches as one MapDataset: element e * steps_per_epoch + s = epoch_fn(e)[s] (a pure
  function of (epoch, step) as each epoch's is, so a resumed run reads the same batches from its step on)."""
  return grain.MapDataset.range(int(total_steps)).map(_RunBatch(epoch_fn, steps_per_epoch))


def _group(it, k: int, num_devices: int):
  """Host batches -> (devices, K, per_device_batch, ...) arrays, K batches per device call."""
  while True:
    batches = []
    for _ in range(k):
      try:
        batches.append(next(it))
      except StopIteration:
        return
    yield jax.tree.map(lambda *xs: np.stack(xs).reshape(k, num_devices, -1, *xs[0].shape[1:]).swapaxes(0, 1),
                       *batches)


class _Prefetch:
  """Reads and groups `it` in a thread, `depth` host batches ahead; puts them on the devices `depth` calls ahead of
  the consumer from the consumer's own thread (flax's prefetch_to_device: device_put is asynchronous, so the
  transfer overlaps the running step; JAX is never called from the reader thread, after a worker aborted in XLA
  once while the thread put batches on the fake CPU devices during an evaluation)."""

  def __init__(self, it, depth: int, devices):
    mesh = Mesh(np.array(devices), ("batch",))
    self._sharding = NamedSharding(mesh, PartitionSpec("batch"))
    self._queue, self._it, self._stop = queue.Queue(maxsize=depth), it, threading.Event()
    self._ahead, self._depth, self._last = collections.deque(), depth, None  # _last: ("end" | "error", e)
    self._thread = threading.Thread(target=self._run, daemon=True)
    self._thread.start()

  def _run(self):
    try:
      for item in self._it:
        while not self._stop.is_set():
          try:
            self._queue.put(("item", item), timeout=0.1)
            break
          except queue.Full:
            continue
        if self._stop.is_set():
          return
      self._queue.put(("end", None))
    except BaseException as e:  # re-raised in the consumer (a UserError from a transform, a worker failure)
      self._queue.put(("error", e))

  def __iter__(self):
    return self

  def __next__(self):
    while self._last is None and len(self._ahead) <= self._depth:
      kind, item = self._queue.get()
      if kind == "item":
        self._ahead.append(jax.device_put(item, self._sharding))
      else:
        self._last = (kind, item)
    if self._ahead:
      return self._ahead.popleft()
    if self._last[0] == "error":
      raise self._last[1]
    raise StopIteration

  def close(self):
    """Stops the reader thread and waits for it."""
    self._stop.set()
    self._thread.join(timeout=60)


def train_calls(epoch_ds: grain.MapDataset, start: int, k: int, num_devices: int, workers: int = 0,
                prefetch: int = 0, devices=None, read_options: grain.ReadOptions | None = None):
  """Batches start, start+1, ... of `epoch_ds` (a batched MapDataset: one epoch, or `across_epochs`) as device
  calls of K batches each.

  Each process (the main one, or each of `workers`) reads with grain's ReadOptions: by default 16 threads and
  500 elements ahead (Pillow's decoding and resizing release the GIL, so threads use several cores too).
  """
  ds = epoch_ds[start:]
  it = ds.to_iter_dataset(read_options or grain.ReadOptions())
  if workers > 0:
    from absl import flags
    if not flags.FLAGS.is_parsed():  # grain's workers read its absl flags; from a notebook or test: the defaults
      flags.FLAGS.mark_as_parsed()
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  calls = _group(iter(it), k, num_devices)
  if prefetch <= 0:
    return calls
  return _Prefetch(calls, prefetch, devices if devices is not None else jax.local_devices()[:num_devices])
