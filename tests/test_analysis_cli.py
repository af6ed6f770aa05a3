"""`python -m train.analyze`: every command on a short LeNet-5 digits run writes its data and figures."""
import json
import os

import numpy as np
import pytest

from train import analyze, defaults, trainer


def test_bad_counts_are_one_line(capsys):
  assert analyze.main(["hessian", "--workdir", "nowhere", "--top_k", "0"]) == 2
  assert "--top_k=0; accepted: a positive integer" in capsys.readouterr().err


def test_a_workdir_without_a_run_is_one_line(tmp_path, capsys):
  assert analyze.main(["landscape", "--workdir", str(tmp_path)]) == 2
  assert "has no config.json; accepted: the workdir of a train.main run" in capsys.readouterr().err


@pytest.mark.slow
def test_every_command_on_a_lenet5_run(tmp_path):
  pytest.importorskip("matplotlib")
  config = defaults.load_config("lenet5")
  config.num_devices, config.num_epochs = 1, 1
  workdir = str(tmp_path / "lenet5")
  trainer.train_and_evaluate(config, workdir)
  out = os.path.join(workdir, "analysis")
  small = ["--examples", "16"]
  assert analyze.main(["landscape", "--workdir", workdir, "--points", "3", *small]) == 0
  assert analyze.main(["landscape", "--workdir", workdir, "--kind", "interpolate", "--points", "3", *small]) == 0
  assert analyze.main(["hessian", "--workdir", workdir, "--top_k", "2", "--lanczos_steps", "4",
                       "--trace_samples", "2", "--slq_runs", "1", "--slq_steps", "4", *small]) == 0
  assert analyze.main(["features", "--workdir", workdir, "--images", "2"]) == 0
  assert analyze.main(["curves", "--workdir", workdir]) == 0
  assert analyze.main(["compare", "--workdir", workdir, "--out", str(tmp_path / "cmp")]) == 0
  surface = np.load(os.path.join(out, "landscape_2d.npz"))
  assert surface["loss"].shape == (9,) and np.all(np.isfinite(surface["loss"]))
  summary = json.load(open(os.path.join(out, "hessian_final.json")))
  assert summary["top_eigenvalues"][0] >= summary["top_eigenvalues"][1]
  for png in ("landscape_2d_contour.png", "landscape_2d_surface.png", "landscape_interpolate.png",
              "hessian_final_density.png", "gradcam_c3.png", "frequency.png", "curve_loss.png"):
    assert os.path.getsize(os.path.join(out, png)) > 1000, png
  table = open(tmp_path / "cmp" / "comparison.md").read()
  assert "`lenet5`" in table and "61,706" in table
