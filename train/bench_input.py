"""Images/s of the input pipeline alone (read, decode, augment, batch; no model), to size a host for a GPU/TPU.

  python -m train.bench_input --workers 0,1,2 --source jpeg     # 500x375 JPEGs decoded with Pillow
  python -m train.bench_input --workers 0,1,2 --source mock     # TFDS mock imagenet2012 (array_record source)

Prints images/s (wall) and images per CPU-second of the main process and its workers (the per-core rate, which
other load on the machine does not change). The training transform is the ConvNeXt ImageNet recipe's at --size: random-resized crop, flip, RandAugment 9/0.5
with 2 ops, ImageNet normalisation, random erasing 0.25 (mixup/cutmix run on the device, not here).
"""
from __future__ import annotations

import argparse
import io
import json
import time

import grain
import numpy as np

from train import data, defaults, pipeline


class JpegSource:
  """`n` JPEG-encoded width x height images (smooth random content, quality 90), decoded on each read."""

  def __init__(self, n: int, width: int = 500, height: int = 375):
    from PIL import Image
    rng = np.random.default_rng(0)
    self.blobs = []
    for _ in range(n):
      small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
      buf = io.BytesIO()
      Image.fromarray(small).resize((width, height), Image.BILINEAR).save(buf, "JPEG", quality=90)
      self.blobs.append(buf.getvalue())

  def __len__(self):
    return len(self.blobs)

  def __getitem__(self, i):
    from PIL import Image
    image = np.asarray(Image.open(io.BytesIO(self.blobs[i])).convert("RGB"))
    return {"image": image, "label": np.int32(i % 1000)}


def measure(source, size: int, workers: int, batch: int, calls: int, threads: int) -> float:
  c = defaults.base_config()
  c.aug.crop, c.aug.interpolation, c.aug.randaugment_n, c.aug.erasing, c.aug.crop_pct = (
      "random_resized", "bicubic", 2, 0.25, 0.875)
  transformed = pipeline.Transformed(source, pipeline.ImageTransform(c.aug, size, 3, "imagenet2012", True))
  ds = data.train_epoch(transformed, seed=0, epoch=0, global_batch=batch, augment=True)
  # one read thread per process and a one-batch buffer: the rate is that of `workers` cores (or the main one)
  options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=batch)
  it = iter(pipeline.train_calls(ds, 0, 1, 1, workers=workers, read_options=options))
  for _ in range(2):  # workers started and warm
    next(it)
  t0, cpu0 = time.perf_counter(), _cpu_seconds()
  n = 0
  for _ in range(calls):
    next(it)
    n += batch
  wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
  return n / wall, n / cpu


def _cpu_seconds() -> float:
  """CPU time of this process and its live children (the workers): images per CPU-second is the per-core rate,
  whatever else loads the machine."""
  import psutil
  me = psutil.Process()
  total = sum(me.cpu_times()[:2])
  for child in me.children(recursive=True):
    try:
      total += sum(child.cpu_times()[:2])
    except psutil.NoSuchProcess:
      pass
  return total


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workers", default="0,1,2")
  parser.add_argument("--source", choices=("jpeg", "mock"), default="jpeg")
  parser.add_argument("--size", type=int, default=224)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--calls", type=int, default=8)
  parser.add_argument("--threads", type=int, default=1, help="grain read threads per process")
  args = parser.parse_args()
  n = args.batch * (args.calls + 2)
  for workers in (int(w) for w in args.workers.split(",")):
    if args.source == "jpeg":
      rate, per_core = measure(JpegSource(n), args.size, workers, args.batch, args.calls, args.threads)
    else:
      import tensorflow_datasets as tfds
      with tfds.testing.mock_data(num_examples=n):
        rate, per_core = measure(data.TfdsImages(data._tfds_source("imagenet2012", "train", "")), args.size, workers,
                       args.batch, args.calls, args.threads)
    print(json.dumps({"source": args.source, "size": args.size, "workers": workers, "threads": args.threads,
                      "images_per_sec": round(rate, 1), "images_per_cpu_second": round(per_core, 1)}),
          flush=True)


if __name__ == "__main__":
  main()
