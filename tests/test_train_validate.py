"""Every bad value is refused in one line before anything is written (issue 11, section 4)."""
import os

import ml_collections
import pytest

from train import defaults, errors, trainer, validate

BAD = {  # key -> a bad value (each must be refused naming the key and the value)
    "batch_size": 0, "eval_batch_size": -8, "num_epochs": 0, "seed": -1, "steps_per_call": 0,
    "num_devices": -1, "image_size": 0, "image_channels": 0, "num_classes": -3, "learning_rate": -0.1,
    "weight_decay": -1e-4, "grad_clip_norm": -1.0, "ema_decay": 1.5, "label_smoothing": 2.0,
    "keep_checkpoints": 0, "log_every_steps": -1, "checkpoint_every_steps": -5, "log_every_epochs": -0.5,
    "checkpoint_every_epochs": -1.0,
    "optimizer.momentum": 1.0, "optimizer.eps": 0.0, "schedule.warmup_epochs": -1.0,
    "schedule.decay_factor": 0.0, "synthetic_examples": 0,
}


def _set(config, dotted, value):
  *parents, last = dotted.split(".")
  node = config
  for key in parents:
    node = node[key]
  with node.unlocked():
    node[last] = value  # bypasses the flag parser's type check: get_config() can set anything
  return config


@pytest.mark.parametrize("key", BAD)
def test_bad_value_is_refused_in_one_line(key):
  config = _set(defaults.load_config("lenet5"), key, BAD[key])
  with pytest.raises(errors.UserError) as e:
    validate.check_values(config)
  message = str(e.value)
  assert message.startswith(f"{key}={BAD[key]!r}; accepted:") and "\n" not in message, message


@pytest.mark.parametrize("key,value", [("batch_size", 8.5), ("seed", True), ("learning_rate", "0.1"),
                                       ("learning_rate", float("inf")), ("augment", 1)])
def test_wrong_type_is_refused(key, value):
  config = ml_collections.ConfigDict({key: value})  # what a get_config() building its own dict could hold
  with pytest.raises(errors.UserError, match=f"^{key}="):
    validate.check_values(config)


def test_shipped_configs_pass():
  for name in sorted(f[:-3] for f in os.listdir(defaults.CONFIGS_DIR) if f.endswith(".py")):
    validate.check_values(defaults.load_config(name))


def test_bad_boundaries():
  config = _set(defaults.load_config("lenet5"), "schedule.boundaries_epochs", (60, 30))
  with pytest.raises(errors.UserError, match="increasing"):
    validate.check_values(config)


@pytest.mark.parametrize("case", ["empty", "a file", "under a file"])
def test_bad_workdir(tmp_path, case):
  afile = tmp_path / "afile"
  afile.write_text("x")
  workdir = {"empty": "", "a file": str(afile), "under a file": str(afile / "run")}[case]
  with pytest.raises(errors.UserError, match="--workdir="):
    validate.check_workdir(workdir)


def test_nothing_is_written_for_a_bad_value(tmp_path):
  config = _set(defaults.load_config("lenet5"), "keep_checkpoints", 0)
  with pytest.raises(errors.UserError, match="keep_checkpoints=0"):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_num_classes_fewer_than_the_dataset_has(tmp_path):
  config = _set(defaults.load_config("lenet5"), "num_classes", 5)
  with pytest.raises(errors.UserError, match="num_classes=5 is fewer than the 10 classes"):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
