"""PonderNet inference with early exit on a trained run's eval set: mean halting step, steps run per batch, accuracy,
and wall time against running all N steps (archs.pondernet.early_exit; sampled halting and threshold 0.5).

  python -m train.main --config configs/pondernet.py --workdir /tmp/ponder
  python -m benchmarks.pondernet_early_exit --workdir /tmp/ponder --batch 1 64 2048
"""
import argparse
import time

import jax
import numpy as np

from archs.pondernet import early_exit
from train import analyze_run


def timed(fn):
  jax.block_until_ready(fn())  # compile
  start = time.perf_counter()
  out = jax.block_until_ready(fn())
  return out, time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--batch", type=int, nargs="+", default=[1, 64, 2048])
  parser.add_argument("--examples", type=int, default=2048)
  args = parser.parse_args()
  run = analyze_run.load(args.workdir)
  eval_set = analyze_run.batch(run.eval_source, min(args.examples, len(run.eval_source)))
  x, y = np.asarray(eval_set["x"]), np.asarray(eval_set["y"])
  model, variables = run.model, {"params": run.variables["params"]}
  print(f"{run.config.model}, N = {model.max_steps}, {len(x)} eval examples")
  _, full_time = timed(lambda: model.apply(variables, x))
  print(f"all N steps, one batch of {len(x)}: {full_time * 1e3:.1f} ms")
  for how in (dict(key=jax.random.key(0)), dict(threshold=0.5)):
    name = "sampled" if "key" in how else "threshold 0.5"
    for batch in args.batch:
      steps, runs, correct, total_time = [], [], 0, 0.0
      for start in range(0, len(x) - batch + 1, batch):
        out, seconds = timed(lambda: early_exit(model, variables, x[start:start + batch], **how))
        steps.append(np.asarray(out["halt_step"]))
        runs.append(int(out["steps_run"]))
        correct += int(((np.asarray(out["halted_logits"]) > 0) == (y[start:start + batch] == 1)).sum())
        total_time += seconds
        if batch == 1 and start >= 255:  # one example at a time: 256 suffice for the means
          break
      n = sum(len(s) for s in steps)
      print(f"{name:>13}, batch {batch:>5}: mean halting step {np.concatenate(steps).mean():.2f}, mean steps run "
            f"{np.mean(runs):.2f} of {model.max_steps}, accuracy {correct / n:.4f} ({n} examples), "
            f"{total_time / n * 1e6:.1f} us per example")


if __name__ == "__main__":
  main()
