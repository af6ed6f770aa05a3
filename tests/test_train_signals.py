"""SIGTERM and Ctrl-C save a checkpoint between device calls and exit 143/130; the resumed run is bit-identical."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL_STEPS = 44  # 1 epoch x 1437 // 32


def _command(workdir):
  return [sys.executable, "-m", "train.main", "--config", "configs/lenet5.py", "--workdir", str(workdir),
          "--config.num_epochs=1", "--config.batch_size=32", "--config.num_devices=2", "--config.steps_per_call=1",
          "--config.checkpoint_every_epochs=0", "--config.checkpoint_every_steps=1000", "--config.log_every_steps=3"]


def _interrupt(workdir, signum):
  """Starts a run, sends `signum` once it has logged its first steps, returns (exit status, stderr)."""
  proc = subprocess.Popen(_command(workdir), cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          stderr=subprocess.PIPE, text=True)
  metrics, deadline = workdir / "metrics.jsonl", time.time() + 300
  while not (metrics.exists() and metrics.read_text().strip()) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signum)
  _, stderr = proc.communicate(timeout=300)
  return proc.returncode, stderr


def _saved_steps(workdir):
  return sorted(int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit())


def test_sigterm_saves_and_the_resumed_run_is_identical(tmp_path):
  stopped, unbroken = tmp_path / "stopped", tmp_path / "unbroken"
  status, stderr = _interrupt(stopped, signal.SIGTERM)
  assert status == 143, f"SIGTERM should exit with 143, got {status}: {stderr[-1500:]}"
  assert "Traceback" not in stderr, stderr[-1500:]
  saved = _saved_steps(stopped)
  assert len(saved) == 1 and 0 < saved[0] < TOTAL_STEPS, f"expected one mid-run checkpoint, found {saved}"
  assert f"interrupted by SIGTERM at step {saved[0]}; checkpoint saved" in stderr, stderr[-800:]

  for workdir in (stopped, unbroken):
    done = subprocess.run(_command(workdir), cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
  resumed, straight = (json.loads((w / "summary.json").read_text()) for w in (stopped, unbroken))
  assert resumed["steps"] == straight["steps"] == TOTAL_STEPS
  assert resumed["eval_loss"] == straight["eval_loss"], "a run stopped by SIGTERM must resume bit-identical"


def test_ctrl_c_saves_and_exits_130(tmp_path):
  status, stderr = _interrupt(tmp_path, signal.SIGINT)
  assert status == 130, f"Ctrl-C should exit with 130, got {status}: {stderr[-1500:]}"
  assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-1500:]
  saved = _saved_steps(tmp_path)
  assert len(saved) == 1 and f"interrupted by SIGINT at step {saved[0]}" in stderr, (saved, stderr[-800:])
