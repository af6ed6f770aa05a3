"""A workdir resumed with another config stops in one line; extending the run is accepted (issue 11, section 3)."""
import json

import pytest

from train import defaults, errors, trainer, validate


def _config(**overrides):
  config = defaults.load_config("lenet5")
  config.num_epochs, config.batch_size, config.num_devices, config.steps_per_call = 1, 128, 1, 1
  for key, value in overrides.items():
    config[key] = value
  return config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  summary = trainer.train_and_evaluate(_config(), str(workdir))
  return workdir, summary


@pytest.mark.parametrize("overrides,named", [({"model": "alexnet"}, "model 'lenet5' -> 'alexnet'"),
                                             ({"seed": 3}, "seed 0 -> 3"),
                                             ({"learning_rate": 0.01}, "learning_rate 0.05 -> 0.01"),
                                             ({"dataset": "synthetic"}, "dataset 'digits' -> 'synthetic'")])
def test_another_config_is_refused_naming_the_keys(finished_run, overrides, named):
  workdir, _ = finished_run
  with pytest.raises(errors.UserError, match="holds a run of another config") as e:
    validate.check_resume(_config(**overrides), str(workdir))
  assert named in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_resuming_with_another_batch_size_stops_before_training(finished_run):
  workdir, summary = finished_run
  with pytest.raises(errors.UserError, match="batch_size 128 -> 64"):
    trainer.train_and_evaluate(_config(batch_size=64), str(workdir))
  assert json.loads((workdir / "summary.json").read_text()) == summary


def test_config_json_is_the_resolved_config(finished_run):
  workdir, _ = finished_run
  saved = json.loads((workdir / validate.CONFIG_FILE).read_text())
  assert saved["model"] == "lenet5" and saved["batch_size"] == 128 and saved["optimizer"]["name"] == "momentum"


def test_extending_the_run_is_accepted_and_reported(tmp_path):
  trainer.train_and_evaluate(_config(), str(tmp_path))
  lines = []
  validate.check_resume(_config(num_epochs=2), str(tmp_path), log=lines.append)
  assert lines == ["resuming with num_epochs 1 -> 2"]
  summary = trainer.train_and_evaluate(_config(num_epochs=2), str(tmp_path))
  assert summary["epochs"] == 2
