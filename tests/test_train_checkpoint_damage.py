"""A damaged newest checkpoint is moved aside and the previous good one restored (issue 11, section 1)."""
import glob
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from faults import DAMAGES, flip_byte
from train import checkpoint, errors, step as step_lib


def _state(step: int):
  w = jax.random.normal(jax.random.PRNGKey(step), (64, 64))  # random: the data file does not compress
  return step_lib.TrainState(step=jnp.int32(step), params={"w": w}, model_state={}, opt_state=(), ema=None,
                             rng=jax.random.PRNGKey(step))


def _saved(tmp_path, steps=(1, 2, 3)):
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lambda _: None)
  for s in steps:
    ckpts.save(_state(s))
  ckpts.close()
  return tmp_path / "checkpoints"


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, damage):
  directory = _saved(tmp_path)
  DAMAGES[damage](directory / "3")
  lines = []
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lines.append)
  restored = ckpts.restore(jax.eval_shape(lambda: _state(0)))
  ckpts.close()
  assert int(restored.step) == 2, f"{damage}: expected the previous step 2, restored {int(restored.step)}"
  np.testing.assert_array_equal(restored.params["w"], _state(2).params["w"])
  assert (directory / "3.corrupt").is_dir(), f"{damage}: the damaged step must be kept as 3.corrupt"
  assert len(lines) == 1 and "step 3 is damaged" in lines[0] and "\n" not in lines[0], lines


def test_every_checkpoint_damaged_is_a_one_line_error(tmp_path):
  directory = _saved(tmp_path, steps=(1, 2))
  for step in ("1", "2"):
    flip_byte(directory / step)
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lambda _: None)
  with pytest.raises(errors.UserError, match="no checkpoint in .* can be restored") as e:
    ckpts.restore(jax.eval_shape(lambda: _state(0)))
  assert "\n" not in str(e.value)
  assert sorted(os.listdir(directory)) == ["1.corrupt", "2.corrupt"]


def test_a_checkpoint_of_another_model_is_refused_and_kept(tmp_path):
  directory = _saved(tmp_path, steps=(1,))
  other = step_lib.TrainState(step=jnp.int32(0), params={"w": jnp.zeros((32, 64))}, model_state={}, opt_state=(),
                              ema=None, rng=jax.random.PRNGKey(0))
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lambda _: None)
  with pytest.raises(errors.UserError, match=r"holds another model .*params\['w'\]"):
    ckpts.restore(jax.eval_shape(lambda: other))
  assert os.listdir(directory) == ["1"], "a checkpoint of another config is the user's data: never moved"


def test_leftover_temporary_directory_is_removed_and_reported(tmp_path):
  directory = _saved(tmp_path, steps=(1,))
  leftover = directory / "2.orbax-checkpoint-tmp-1700000000"
  (leftover / "default").mkdir(parents=True)
  lines = []
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lines.append)
  assert not leftover.exists() and ckpts.latest_step() == 1
  assert len(lines) == 1 and "unfinished save" in lines[0]
  ckpts.close()


def test_a_run_whose_last_checkpoint_is_damaged_ends_as_it_did(tmp_path):
  from train import defaults, trainer
  config = defaults.load_config("lenet5")
  config.num_epochs, config.batch_size, config.num_devices = 1, 64, 1
  config.steps_per_call, config.checkpoint_every_steps, config.keep_checkpoints = 1, 7, 3
  config.checkpoint_every_epochs = 0
  first = trainer.train_and_evaluate(config, str(tmp_path))
  directory = tmp_path / "checkpoints"
  newest = max(int(d) for d in os.listdir(directory) if d.isdigit())
  flip_byte(directory / str(newest))
  again = trainer.train_and_evaluate(config, str(tmp_path))
  assert (directory / f"{newest}.corrupt").is_dir()
  assert again["steps"] == first["steps"] == newest
  assert again["eval_loss"] == first["eval_loss"], "the run resumed from the previous step must end bit-identical"


def _full_disk(monkeypatch, free):
  usage = shutil.disk_usage("/")
  monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda _: usage._replace(free=free))


def test_a_full_disk_stops_in_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lambda _: None)
  ckpts.save(_state(1))
  _full_disk(monkeypatch, free=1000)
  with pytest.raises(errors.UserError, match=r"no space to save step 2 in .*: it needs about 0\.0 MiB") as e:
    ckpts.save(_state(2))
  assert "\n" not in str(e.value)
  monkeypatch.undo()
  restored = ckpts.restore(jax.eval_shape(lambda: _state(0)))
  assert int(restored.step) == 1
  ckpts.close()


def test_a_save_failing_on_a_full_disk_is_reported_as_such(tmp_path, monkeypatch):
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lambda _: None)

  def fails_midway(*args, **kwargs):  # what orbax raised when a tmpfs filled up during the write
    _full_disk(monkeypatch, free=10)
    raise RuntimeError("Event loop is closed")
  monkeypatch.setattr(ckpts.manager, "save", fails_midway)
  with pytest.raises(errors.UserError, match="no space to save step 2"):
    ckpts.save(_state(2))


def test_another_save_failure_keeps_its_traceback(tmp_path, monkeypatch):
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lambda _: None)
  monkeypatch.setattr(ckpts.manager, "save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
  with pytest.raises(RuntimeError, match="a bug"):
    ckpts.save(_state(2))


def test_a_read_only_reader_changes_nothing_on_disk(tmp_path):
  directory = _saved(tmp_path)
  flip_byte(directory / "3")
  in_progress = directory / "4.orbax-checkpoint-tmp-1700000000"
  (in_progress / "default").mkdir(parents=True)  # a save the training beside is writing
  lines = []
  reader = checkpoint.Checkpoints(str(tmp_path), keep=3, log=lines.append, read_only=True)
  restored = reader.restore(jax.eval_shape(lambda: _state(0)))
  reader.close()
  assert int(restored.step) == 2 and in_progress.is_dir() and (directory / "3").is_dir()
  assert not (directory / "3.corrupt").exists() and len(lines) == 1
