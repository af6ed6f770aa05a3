"""Time and memory of one sequence-mixing layer against the sequence length, with our own layers.

  python -m benchmarks.seq_scaling [--lengths 128 256 512 1024 2048 4096] [--dim 128 --heads 4] [--append FILE]

The claim (LITERATURE_CLAIMS.md, "Cost and speed"): self-attention costs O(n^2 d) per layer with O(1) sequential
steps, a recurrent layer O(n d^2) with O(n) steps, RetNet's chunkwise form O(n c d + n d^2 / c ...), and TNN's FFT
Toeplitz mixing O(n d log n). Layers, all causal, width d, batch 1: `attention` (archs.layers.attention
MultiHeadAttention with the causal mask), `retnet parallel|chunkwise|recurrent` (archs.retnet MultiScaleRetention
in each form; chunk 64), `tnn` (archs.tnn Gtu, expand ratio 1 so its width is d too: the RPE MLP over the n
indices, then the FFT Toeplitz product) and `lstm` (archs.lstm StackedLSTM, one layer, a lax.scan over time).
Per layer and length: forward and forward+backward (gradient of a sum of squares w.r.t. params and input) time,
medians of `--windows` windows in CPU time of the process (one intra-op thread; a shared CPU inflates wall time),
and the memory XLA's compiled program needs (temporaries + outputs, `compiled.memory_analysis()`, as the CPU
backend has no memory_stats). The last column is the fitted exponent p of time ~ n^p over the two largest lengths.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import time

import numpy as np

from benchmarks import run as bench_run


def layers(dim: int, heads: int) -> dict:
  """name -> (flax module, apply kwargs)."""
  from archs.layers.attention import MultiHeadAttention
  from archs.lstm import StackedLSTM
  from archs.retnet import MultiScaleRetention
  from archs.tnn import Gtu
  retention = MultiScaleRetention(dim, dim, heads)
  return {"attention": (MultiHeadAttention(heads), {"causal": True}),
          "retnet parallel": (retention, {"mode": "parallel"}),
          "retnet chunkwise": (retention, {"mode": "chunkwise", "chunk_size": 64}),
          "retnet recurrent": (retention, {"mode": "recurrent"}),
          "tnn": (Gtu(dim, expand_ratio=1.0, rpe_dim=32), {}),
          "lstm": (StackedLSTM(dim, 1), {})}


def programs(module, kwargs: dict, length: int, dim: int):
  """(forward, forward+backward) jitted, their inputs, and their compiled memory in bytes."""
  import jax
  import jax.numpy as jnp

  from archs.layers.attention import causal_mask
  kwargs = dict(kwargs)
  causal = kwargs.pop("causal", False)
  x = jax.random.normal(jax.random.key(0), (1, length, dim))
  if causal:
    kwargs["mask"] = causal_mask(length)

  def apply(p, x):  # retention and the LSTM also return their final state
    out = module.apply({"params": p}, x, **kwargs)
    return out[0] if isinstance(out, tuple) else out

  params = jax.jit(lambda x: module.init(jax.random.key(1), x, **kwargs)["params"])(x)
  grad = jax.grad(lambda p, x: jnp.sum(apply(p, x) ** 2), argnums=(0, 1))
  compiled = [jax.jit(f).lower(params, x).compile() for f in (apply, grad)]  # compiled once, timed as compiled
  memory = []
  for c in compiled:
    m = c.memory_analysis()
    memory.append(m.temp_size_in_bytes + m.output_size_in_bytes if m is not None else float("nan"))
  return compiled[0], compiled[1], (params, x), memory


def cpu_seconds(f, args, windows: int) -> float:
  import jax
  jax.block_until_ready(f(*args))
  times = []
  for _ in range(windows):
    t0 = time.process_time()
    jax.block_until_ready(f(*args))
    times.append(time.process_time() - t0)
  return float(np.median(times))


def measure(lengths, dim: int, heads: int, windows: int, names=None) -> list[dict]:
  rows = []
  for name, (module, kwargs) in layers(dim, heads).items():
    if names and name not in names:
      continue
    for n in lengths:
      forward, grad, args, memory = programs(module, kwargs, n, dim)
      rows.append({"layer": name, "length": n, "forward_ms": 1e3 * cpu_seconds(forward, args, windows),
                   "train_ms": 1e3 * cpu_seconds(grad, args, windows), "forward_mib": memory[0] / 2**20,
                   "train_mib": memory[1] / 2**20})
      print(rows[-1], flush=True)
  return rows


def exponent(rows, name, key) -> str:
  pts = sorted((r["length"], r[key]) for r in rows if r["layer"] == name)
  if len(pts) < 2 or min(pts[-2][1], pts[-1][1]) <= 0:
    return ""
  (n0, t0), (n1, t1) = pts[-2:]
  return f"{math.log(t1 / t0) / math.log(n1 / n0):.2f}"


def markdown(rows, dim: int, heads: int, command: str) -> str:
  lengths = sorted({r["length"] for r in rows})
  names = list(dict.fromkeys(r["layer"] for r in rows))
  cell = {(r["layer"], r["length"]): r for r in rows}
  out = [f"### {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, width {dim}, {heads} heads, "
         f"batch 1, float32, CPU time, load {os.getloadavg()[0]:.0f}", "", f"`{command}`", ""]
  for title, key, unit in (("forward + backward", "train_ms", "ms"), ("forward", "forward_ms", "ms"),
                           ("forward + backward, compiled memory", "train_mib", "MiB")):
    out += [f"{title} ({unit}):", "", "| layer | " + " | ".join(f"n = {n}" for n in lengths) + " | p |",
            "|---|" + "---|" * (len(lengths) + 1)]
    for name in names:
      values = [cell.get((name, n), {}).get(key) for n in lengths]
      out.append(f"| {name} | " + " | ".join("" if v is None else f"{v:,.1f}" for v in values) +
                 f" | {exponent(rows, name, key)} |")
    out.append("")
  return "\n".join(out)


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.seq_scaling", description=__doc__.splitlines()[0])
  parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512, 1024, 2048, 4096])
  parser.add_argument("--dim", type=int, default=128)
  parser.add_argument("--heads", type=int, default=4)
  parser.add_argument("--windows", type=int, default=3)
  parser.add_argument("--layers", nargs="*", help="a subset of the layer names")
  parser.add_argument("--append", metavar="MARKDOWN", help="append the tables to this file")
  args = parser.parse_args(argv)
  import jax
  if not jax._src.xla_bridge.backends_are_initialized():  # one intra-op thread, unless JAX already started (tests)
    bench_run.set_threads(1)
  rows = measure(args.lengths, args.dim, args.heads, args.windows, args.layers)
  table = markdown(rows, args.dim, args.heads, "python -m benchmarks.seq_scaling " + " ".join(
      argv if argv is not None else os.sys.argv[1:]))
  print(table)
  if args.append:
    with open(args.append, "a") as f:
      f.write("\n" + table)
  return rows


if __name__ == "__main__":
  main()
