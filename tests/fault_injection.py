"""Fault injection: kill training at random moments and damage its newest checkpoint each way; count recoveries.

  python tests/fault_injection.py --kills 10 --seed 0

Each kill: a run is SIGKILLed (or SIGTERMed) at a random moment, restarted until it finishes, and compared with an
unbroken run (eval loss and final parameters bit-identical). Each damage: a finished run's newest checkpoint is
damaged, the run restarted, and it must fall back to the previous step and end identical. Prints
"N/N resumed identical, M/M damages fell back".
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402

from faults import DAMAGES  # noqa: E402


def command(workdir):
  return [sys.executable, "-m", "train.main", "--config", "configs/lenet5.py", "--workdir", str(workdir),
          "--config.num_epochs=1", "--config.batch_size=32", "--config.num_devices=2", "--config.steps_per_call=1",
          "--config.checkpoint_every_epochs=0", "--config.checkpoint_every_steps=4", "--config.log_every_steps=4",
          "--config.keep_checkpoints=3"]


def run(workdir, kill_after=None, signum=signal.SIGKILL):
  proc = subprocess.Popen(command(workdir), cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  if kill_after is not None:
    time.sleep(kill_after)
    if proc.poll() is None:
      proc.send_signal(signum)
  _, stderr = proc.communicate()
  return proc.returncode, stderr


def outcome(workdir):
  summary = json.loads((workdir / "summary.json").read_text())
  steps = max(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
  params = ocp.StandardCheckpointer().restore(str(workdir / "checkpoints" / str(steps) / "default"))["params"]
  return summary["eval_loss"], params


def same(a, b):
  import jax
  return a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a[1]), jax.tree.leaves(b[1])))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--kills", type=int, default=10)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  rng = random.Random(args.seed)
  with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    t0 = time.time()
    status, stderr = run(tmp / "unbroken")
    assert status == 0, stderr[-2000:]
    reference, duration = outcome(tmp / "unbroken"), time.time() - t0
    identical = 0
    for i in range(args.kills):
      workdir, signum = tmp / f"kill{i}", rng.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGTERM])
      when = rng.uniform(0.2, 1.0) * duration
      killed, _ = run(workdir, when, signum)
      while not (workdir / "summary.json").exists():
        status, stderr = run(workdir)
        assert status == 0, stderr[-2000:]
      ok = same(outcome(workdir), reference)
      identical += ok
      print(f"kill {i}: {signal.Signals(signum).name} after {when:.1f}s (exit {killed}): "
            f"{'identical' if ok else 'DIFFERENT'}", flush=True)
    fell_back = 0
    for name, damage in DAMAGES.items():
      workdir = tmp / f"damage_{name.replace(' ', '_')}"
      run(workdir)
      newest = max(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())
      damage(workdir / "checkpoints" / str(newest))
      status, stderr = run(workdir)
      ok = status == 0 and (workdir / "checkpoints" / f"{newest}.corrupt").is_dir() and same(outcome(workdir),
                                                                                             reference)
      fell_back += ok
      print(f"damage {name!r}: {'fell back, identical' if ok else 'FAILED: ' + stderr[-300:]}", flush=True)
  print(f"{identical}/{args.kills} resumed identical, {fell_back}/{len(DAMAGES)} damages fell back")
  return 0 if identical == args.kills and fell_back == len(DAMAGES) else 1


if __name__ == "__main__":
  sys.exit(main())
