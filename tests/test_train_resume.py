"""A run killed with SIGKILL and restarted ends exactly where an unbroken run ends (CPU is deterministic)."""
import json
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import orbax.checkpoint as ocp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL_STEPS = 88  # 2 epochs x 1437 // 32


def _command(workdir):
  return [sys.executable, "-m", "train.main", "--config", "configs/lenet5.py", "--workdir", str(workdir),
          "--config.num_epochs=2", "--config.batch_size=32", "--config.num_devices=2",
          "--config.steps_per_call=11", "--config.checkpoint_every_epochs=0", "--config.checkpoint_every_steps=11", "--config.log_every_steps=11",
          "--config.keep_checkpoints=2"]


def _env():
  return {**os.environ, "JAX_PLATFORMS": "cpu"}


def _saved_steps(workdir):
  path = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(path) if d.isdigit()) if os.path.isdir(path) else []


def _final_params(workdir):
  restored = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(TOTAL_STEPS), "default"))
  return restored["params"]


def test_sigkill_and_restart_equals_uninterrupted(tmp_path):
  killed, unbroken = tmp_path / "killed", tmp_path / "unbroken"
  proc = subprocess.Popen(_command(killed), cwd=ROOT, env=_env(), stderr=subprocess.PIPE)
  deadline = time.time() + 300
  while not _saved_steps(killed) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  assert not (killed / "summary.json").exists(), "the run finished before it could be killed; make it longer"
  saved = _saved_steps(killed)
  assert saved and saved[-1] < TOTAL_STEPS, f"expected a checkpoint before the end, found steps {saved}"

  for workdir in (killed, unbroken):
    done = subprocess.run(_command(workdir), cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

  resumed = json.loads((killed / "summary.json").read_text())
  straight = json.loads((unbroken / "summary.json").read_text())
  assert resumed["steps"] == straight["steps"] == TOTAL_STEPS
  assert resumed["eval_loss"] == straight["eval_loss"], "eval loss of the resumed run should be bit-identical"
  assert resumed["eval_accuracy"] == straight["eval_accuracy"]
  chex.assert_trees_all_equal(_final_params(killed), _final_params(unbroken),
                              custom_message="final params of the resumed run should equal the unbroken run's")

  events = [json.loads(l) for l in (killed / "metrics.jsonl").read_text().splitlines()]
  keys = [(e["kind"], e["step"]) for e in events]
  assert len(keys) == len(set(keys)), f"metrics.jsonl has duplicate events after the resume: {keys}"
  straight_keys = [(e["kind"], e["step"]) for e in map(json.loads, (unbroken / "metrics.jsonl").read_text().splitlines())]
  assert keys == straight_keys, "the resumed run should log the same events as the unbroken run"
  assert len(_saved_steps(killed)) <= 2, "keep_checkpoints=2"


def test_partial_save_left_by_a_kill_is_ignored(tmp_path):
  from train import checkpoint, step as step_lib
  state = step_lib.TrainState(step=jax.numpy.int32(3), params={"w": jax.numpy.ones((2, 2))}, model_state={},
                              opt_state=(), ema=None, rng=jax.random.PRNGKey(0))
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=2)
  ckpts.save(state)
  partial = tmp_path / "checkpoints" / "7.orbax-checkpoint-tmp-1700000000" / "default"
  partial.mkdir(parents=True)
  (partial / "garbage").write_text("cut short by SIGKILL")
  ckpts.close()
  again = checkpoint.Checkpoints(str(tmp_path), keep=2)
  assert again.latest_step() == 3, "an unfinished (temporary) save must not count as a checkpoint"
  restored = again.restore(jax.eval_shape(lambda: state))
  np.testing.assert_array_equal(restored.params["w"], np.ones((2, 2)))
  assert int(restored.step) == 3 and restored.ema is None


def test_kill_between_orbax_and_the_manifest_keeps_the_step(tmp_path):
  """A kill after orbax's rename but before the manifest is in the step directory: the step is whole and restores
  verified with its pending manifest (it used to count as damaged: the only checkpoint then blocked a restart)."""
  from train import checkpoint, step as step_lib
  state = step_lib.TrainState(step=jax.numpy.int32(5), params={"w": jax.numpy.arange(4.0)}, model_state={},
                              opt_state=(), ema=None, rng=jax.random.PRNGKey(0))
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=2)
  ckpts.save(state)
  ckpts.close()
  directory = tmp_path / "checkpoints"
  os.replace(directory / "5" / checkpoint.CHECKSUMS, directory / checkpoint.PENDING.format(5))  # the kill's window
  (directory / checkpoint.PENDING.format(9)).write_text("{}")  # killed before orbax's rename: no step 9
  again = checkpoint.Checkpoints(str(tmp_path), keep=2)
  restored = again.restore(jax.eval_shape(lambda: state))
  np.testing.assert_array_equal(restored.params["w"], np.arange(4.0))
  assert (directory / "5" / checkpoint.CHECKSUMS).exists()
  assert not list(directory.glob("pending_*")), "pending manifests are adopted or removed on start"
  assert not list(directory.glob("*.corrupt*"))
