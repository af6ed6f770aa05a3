"""One benchmark driver: our train step and inference against PyTorch (timm/torchvision) in one process.

  python -m benchmarks.run --models 'resnet50,convnext_tiny,vanillanet_5:deploy' --dtype bfloat16 --batch 256 \
      --image 224 [--csv out.csv] [--append BENCHMARKS.md]

Per model: compile time (first call minus a steady call), train throughput (examples/s, and tokens/s for sequence
models) of the real pmap'd train step of train/ with synthetic data already on the device, inference throughput
(jitted eval-mode apply), batch-1 latency, peak device memory (where the backend reports it), MFU (bf16 on a
device of known peak), and the same for PyTorch eager and `torch.compile` when torch is importable, with the
ratios ours / theirs. Timings are medians of `--windows` windows of `--calls` calls, after a warm-up call, in
wall time, or with `--clock cpu` (the default on the CPU backend) in CPU time of the process: on a shared CPU the
wall time of a call grows with the number of runnable processes (load 20 on 2 cores: ~10x, varying minute to
minute), so wall ratios taken minutes apart are noise, while CPU times stay within ~10%. Compile time is wall.
`name:field=value:flag` passes overrides to archs.create_model (`vanillanet_5:deploy` = deploy=True).
"""
from __future__ import annotations

import argparse
import ast
import csv
import datetime
import importlib.util
import os
import platform
import sys

import jax

from benchmarks import jax_side

COLUMNS = ("model", "side", "input", "batch", "dtype", "clock", "steps_per_call", "compile_s", "train_per_s",
           "train_tokens_per_s", "infer_per_s", "latency_ms", "peak_mem_mb", "mfu", "train_ratio", "infer_ratio",
           "load_avg", "skipped")


def parse_model(spec: str) -> tuple[str, dict]:
  """'vanillanet_5:deploy:width_multiplier=0.5' -> ('vanillanet_5', {'deploy': True, 'width_multiplier': 0.5})."""
  name, *fields = spec.strip().split(":")
  overrides = {}
  for field in fields:
    key, _, value = field.partition("=")
    try:
      overrides[key] = ast.literal_eval(value) if value else True
    except (ValueError, SyntaxError):
      overrides[key] = value
  return name, overrides


def set_threads(n: int) -> None:
  """Intra-op threads of XLA:CPU (before JAX starts its backend) and of torch. On a CPU shared with other jobs,
  torch's OpenMP pool of 2 threads ran LeNet-5 50x slower than 1 thread (27 vs 1,301 img/s at load 14)."""
  if jax._src.xla_bridge.backends_are_initialized():
    raise SystemExit("--threads must be set before JAX starts its backend")
  flags = os.environ.get("XLA_FLAGS", "")
  os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} " \
                            f"intra_op_parallelism_threads={n}".strip()
  if torch_available():
    import torch
    torch.set_num_threads(n)


def torch_available() -> bool:
  return importlib.util.find_spec("torch") is not None


def run_model(spec: str, args) -> list[dict]:
  name, overrides = parse_model(spec)
  common = dict(batch=args.batch, dtype=args.dtype, clock=args.clock)
  ours = jax_side.measure(name, overrides, image=args.image, seq_len=args.seq, num_classes=args.num_classes,
                          steps_per_call=args.steps_per_call, calls=args.calls, windows=args.windows, **common)
  rows = [{"model": spec, "side": "jax", **common, **ours, "load_avg": os.getloadavg()[0]}]
  if args.torch == "off" or not torch_available():
    return rows
  from benchmarks import torch_side
  image = int(ours["input"].split("x")[0]) if "x" in ours["input"] else args.image
  modes = {"on": (False, True), "off": (False,)}[args.torch_compile if args.torch_compile != "auto" else
                                                  ("on" if jax.default_backend() == "gpu" else "off")]
  for compiled in modes:
    side = "torch_compile" if compiled else "torch_eager"
    try:
      theirs = torch_side.measure(name, image=image, seq_len=args.seq, num_classes=args.num_classes,
                                  channels=3 if name != "lenet5" else 1, vocab_size=_vocab(name, overrides),
                                  compiled=compiled, calls=args.calls, windows=args.windows, **common)
    except Exception as e:  # a torch.compile failure is a result to report, not a crash of the whole run
      theirs = {"skipped": f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"}
    row = {"model": spec, "side": side, **common, "input": ours["input"], **theirs, "load_avg": os.getloadavg()[0]}
    if "skipped" not in theirs:
      row["train_ratio"] = ours["train_per_s"] / theirs["train_per_s"]
      row["infer_ratio"] = ours["infer_per_s"] / theirs["infer_per_s"]
    rows.append(row)
  return rows


def _vocab(name, overrides):
  import archs
  return getattr(archs.create_model(name, **overrides), "vocab_size", 0)


def _fmt(value, digits=1) -> str:
  if value is None or value == "":
    return ""
  if isinstance(value, float):
    return f"{value:,.{digits}f}" if abs(value) >= 1 or value == 0 else f"{value:.2g}"
  return str(value)


def markdown(rows: list[dict], command: str) -> str:
  device = jax.local_devices()[0]
  versions = f"jax {jax.__version__}"
  if torch_available():
    import torch
    versions += f", torch {torch.__version__}"
  head = [f"### {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {device.device_kind} "
          f"({jax.default_backend()}, {os.cpu_count()} CPUs, {platform.python_version()}), {versions}", "",
          f"`{command}`" + (" (CPU time of the process)" if rows and rows[0].get("clock") == "cpu" else ""), "",
          "| model | side | input | batch | train /s | tokens /s | ratio train | infer /s | ratio infer | "
          "batch-1 ms | compile s | peak MiB | MFU | load |", "|" + "---|" * 14]
  body = [f"| `{r['model']}` | {r['side']} | {r.get('input', '')} | {r['batch']} | {_fmt(r.get('train_per_s'))} | "
          f"{_fmt(r.get('train_tokens_per_s') or None, 0)} | {_fmt(r.get('train_ratio'), 2)} | "
          f"{_fmt(r.get('infer_per_s'))} | {_fmt(r.get('infer_ratio'), 2)} | {_fmt(r.get('latency_ms'), 2)} | "
          f"{_fmt(r.get('compile_s'))} | {_fmt(r.get('peak_mem_mb'), 0)} | {_fmt(r.get('mfu'), 3)} | "
          f"{_fmt(r.get('load_avg'), 2)} |" + (f" skipped: {r['skipped']}" if r.get("skipped") else "")
          for r in rows]
  return "\n".join(head + body) + "\n"


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="lenet5,transformer_lm_tiny", help="comma-separated names[:field=value]")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--image", type=int, default=64, help="image side (models made for less keep theirs)")
  parser.add_argument("--seq", type=int, default=128, help="sequence length of token models")
  parser.add_argument("--num-classes", type=int, default=1000)
  parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
  parser.add_argument("--steps-per-call", type=int, default=None,
                      help="K train steps per device call (default: 1 on CPU, 8 elsewhere)")
  parser.add_argument("--calls", type=int, default=5, help="calls per timed window")
  parser.add_argument("--windows", type=int, default=3, help="timed windows (the median is reported)")
  parser.add_argument("--torch", choices=("auto", "off"), default="auto", help="auto: when torch is importable")
  parser.add_argument("--torch-compile", choices=("auto", "on", "off"), default="auto", help="auto: on GPU only")
  parser.add_argument("--threads", type=int, default=0,
                      help="intra-op threads of both sides (0: each library's default); 1 on a shared CPU")
  parser.add_argument("--clock", choices=("auto", "wall", "cpu"), default="auto",
                      help="time per call: wall, or CPU time of the process (auto: cpu on the CPU backend)")
  parser.add_argument("--csv", help="write the rows to this CSV file")
  parser.add_argument("--append", metavar="MARKDOWN", help="append the markdown table to this file")
  args = parser.parse_args(argv)
  if args.threads:
    set_threads(args.threads)
  if args.clock == "auto":  # on a CPU shared with other jobs only the CPU time is comparable between calls
    args.clock = "cpu" if jax.default_backend() == "cpu" else "wall"
  if args.steps_per_call is None:  # the trainer's default on accelerators; on CPU one step is one timed call
    args.steps_per_call = 1 if jax.default_backend() == "cpu" else 8
  command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
  rows = []
  for spec in args.models.split(","):
    for row in run_model(spec, args):
      rows.append(row)
      print(" ".join(f"{k}={_fmt(row[k], 3)}" for k in COLUMNS if row.get(k) not in (None, "")), flush=True)
  if args.csv:
    with open(args.csv, "w", newline="") as f:
      writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
      writer.writeheader()
      writer.writerows(rows)
  table = markdown(rows, command)
  print(table)
  if args.append:
    with open(args.append, "a") as f:
      f.write("\n" + table)
  return rows


if __name__ == "__main__":
  main()
