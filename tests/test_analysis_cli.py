"""`python -m train.analyze`: every command on a short LeNet-5 digits run writes its data and figures."""
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs.layers.attention import MultiHeadAttention
from archs.layers.bam import BAM
from train import analyze, analyze_run, defaults, trainer
from train.tasks.classification import ClassificationTask


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
  config.checkpoint_every_epochs, config.checkpoint_every_steps = 0.0, 11  # steps 11 and 22: --step 11 is older
  workdir = str(tmp_path / "lenet5")
  trainer.train_and_evaluate(config, workdir)
  out = os.path.join(workdir, "analysis")
  small = ["--examples", "16"]
  assert analyze.main(["landscape", "--workdir", workdir, "--points", "3", *small]) == 0
  assert analyze.main(["landscape", "--workdir", workdir, "--kind", "interpolate", "--points", "3", *small]) == 0
  assert analyze.main(["hessian", "--workdir", workdir, "--top_k", "2", "--lanczos_steps", "4",
                       "--trace_samples", "2", "--slq_runs", "1", "--step", "11", *small]) == 0
  assert analyze.main(["features", "--workdir", workdir, "--images", "2", "--step", "11"]) == 0
  assert analyze.main(["curves", "--workdir", workdir]) == 0
  assert analyze.main(["compare", "--workdir", workdir, "--out", str(tmp_path / "cmp")]) == 0
  surface = np.load(os.path.join(out, "landscape_2d.npz"))
  assert surface["loss"].shape == (9,) and np.all(np.isfinite(surface["loss"]))
  summary = json.load(open(os.path.join(out, "hessian_final.json")))
  assert summary["step"] == 11
  assert summary["top_eigenvalues"][0] >= summary["top_eigenvalues"][1]
  for png in ("landscape_2d_contour.png", "landscape_2d_surface.png", "landscape_interpolate.png",
              "hessian_final_density.png", "gradcam_c3.png", "frequency.png", "curve_loss.png"):
    assert os.path.getsize(os.path.join(out, png)) > 1000, png
  table = open(tmp_path / "cmp" / "comparison.md").read()
  assert "`lenet5`" in table and "61,706" in table


class ConvBamAttention(nn.Module):
  """conv-ReLU-maxpool, BAM, then a class token and one attention over the 4x4 patch grid: every features method."""
  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = nn.max_pool(nn.relu(nn.Conv(8, (3, 3), name="conv")(x)), (2, 2), (2, 2))
    x = BAM(reduction=4, name="bam")(x, train)
    tokens = x.reshape(len(x), -1, 8)
    tokens = jnp.concatenate([jnp.broadcast_to(self.param("cls", nn.initializers.zeros, (1, 1, 8)),
                                               (len(x), 1, 8)), tokens], axis=1)
    tokens = MultiHeadAttention(num_heads=2, name="attn")(tokens)
    return nn.Dense(3, name="head")(tokens[:, 0])


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
  """A Run of ConvBamAttention on random 8x8 images, without training or a checkpoint."""
  model = ConvBamAttention()
  images = np.asarray(jax.random.normal(jax.random.key(0), (3, 8, 8, 1)), np.float32)
  variables = jax.jit(model.init)(jax.random.key(1), images)
  source = [{"image": images[i], "label": np.int32(i)} for i in range(3)]
  config = defaults.load_config("lenet5")
  with config.unlocked():
    config.model = "conv_bam_attention"
  run = analyze_run.Run(str(tmp_path), config, ClassificationTask(), model, variables, {}, 7, source, source)
  monkeypatch.setattr(analyze_run, "load", lambda workdir, step=None: run)
  return str(tmp_path)


@pytest.mark.slow  # ~13 s: seven methods, each its own compiled program
def test_features_runs_every_method_that_applies(fake_run):
  pytest.importorskip("matplotlib")
  assert analyze.main(["features", "--workdir", fake_run, "--images", "3"]) == 0
  out = os.path.join(fake_run, "analysis")
  for png in ("features_conv.png", "gradcam_bam.png", "frequency.png", "projection_logits.png", "bam_attention.png",
              "attention_heads.png", "attention_class_token.png"):
    assert os.path.getsize(os.path.join(out, png)) > 1000, png
  data = np.load(os.path.join(out, "features.npz"))
  assert data["attention_weights"].shape == (3, 2, 17, 17) and data["bam_bam"].shape == (3, 4, 4, 8)
  for rule in ("gradient", "deconvnet", "guided"):
    assert data[f"projection_{rule}"].shape == (3, 8, 8, 1)
  assert not np.allclose(data["projection_guided"], data["projection_gradient"])


def test_features_method_that_does_not_apply_is_one_line(fake_run, capsys):
  assert analyze.main(["features", "--workdir", fake_run, "--method", "guided", "--project_layer", "nope"]) == 2
  assert "--project_layer 'nope' is not a 4-D layer of conv_bam_attention; accepted: conv, bam" in capsys.readouterr().err


def test_compare_prints_a_table_passed_in(tmp_path, capsys):
  rows = [{"name": "a", "eval_accuracy": 0.5, "num_params": 1234, "macs": 5678},
          {"name": "b", "model": "lenet5", "eval_accuracy": 0.9944, "num_params": 61706, "macs": 416520}]
  (tmp_path / "rows.json").write_text(json.dumps(rows))
  assert analyze.main(["compare", "--rows", str(tmp_path / "rows.json"), "--table"]) == 0
  assert capsys.readouterr().out.splitlines()[2:4] == ["| a | - | 50.00% | 1,234 | 5,678 |",
                                                       "| b | `lenet5` | 99.44% | 61,706 | 416,520 |"]
  (tmp_path / "bad.json").write_text(json.dumps([{"name": "c"}]))
  assert analyze.main(["compare", "--rows", str(tmp_path / "bad.json"), "--table"]) == 2
  assert "row 0 lacks eval_accuracy, num_params, macs" in capsys.readouterr().err
  assert analyze.main(["compare", "--rows", str(tmp_path / "rows.json")]) == 2
  assert "without --out DIR or --table" in capsys.readouterr().err
