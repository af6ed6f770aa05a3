"""python -m train.evaluate: a run's checkpoint evaluated again gives its metrics; the export loads in archs alone."""
import json

import jax
import numpy as np
import pytest

import archs
from train import analyze_run, defaults, evaluate, trainer


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  config = defaults.load_config("lenet5")
  config.num_epochs, config.batch_size = 1, 256
  summary = trainer.train_and_evaluate(config, str(workdir))
  return workdir, summary


def test_evaluating_the_checkpoint_gives_the_runs_metrics(run_dir):
  workdir, summary = run_dir
  metrics = evaluate.evaluate(analyze_run.load(str(workdir)))
  # One device here, eight in the run: the sums differ only by float rounding.
  np.testing.assert_allclose(metrics["accuracy"], summary["eval_accuracy"], rtol=1e-6)
  np.testing.assert_allclose(metrics["loss"], summary["eval_loss"], rtol=1e-5)


def test_export_loads_with_archs_alone_and_gives_the_same_logits(run_dir, tmp_path):
  workdir, _ = run_dir
  run = analyze_run.load(str(workdir))
  path = str(tmp_path / "lenet5.npz")
  assert evaluate.main(["--workdir", str(workdir), "--export", path]) == 0
  spec = json.loads((tmp_path / "lenet5.json").read_text())
  model = archs.create_model(spec["model"], **spec["kwargs"])
  images = np.stack([run.eval_source[i]["image"] for i in range(16)])
  np.testing.assert_array_equal(model.apply(archs.load_variables(path), images),
                                run.model.apply(jax.device_get(run.variables), images))


def test_deploy_export_of_a_model_without_one_is_one_line(run_dir, tmp_path, capsys):
  workdir, _ = run_dir
  assert evaluate.main(["--workdir", str(workdir), "--export", str(tmp_path / "x.npz"), "--deploy"]) == 2
  assert "has no deploy form" in capsys.readouterr().err
