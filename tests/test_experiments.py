"""The experiment runners (experiments/) are wired to commands that parse: every config preset they name loads,
every analyze command's flags are accepted, every workdir is under the chosen root; one tiny real run (slow)."""
import json
import os
import subprocess
import sys

import pytest

from experiments import cnn_chart, common, plain_vs_resnet, vanillanet_deep_training
from train import analyze, defaults

ROOT = os.path.join("some", "root")


def _check(steps):
  """Each train command's config loads; each analyze command parses; done-files are under ROOT."""
  for label, cmd, done in steps:
    assert cmd[:2] == [sys.executable, "-m"], label
    if cmd[2] == "train.main":
      path, _, preset = cmd[cmd.index("--config") + 1].partition(":")
      config = defaults.load_config(path, preset or None)
      defaults.check_keys(config)
      assert cmd[cmd.index("--workdir") + 1].startswith(ROOT), label
    else:
      assert cmd[2] == "train.analyze", label
      analyze.parser().parse_args(cmd[3:])
    assert done is None or done.startswith(ROOT), label


def test_vanillanet_plan_covers_both_schedules_and_every_act_num():
  steps = vanillanet_deep_training.plan(ROOT, seeds=[0, 1], act_nums=[0, 1, 2, 3, 4])
  _check(steps)
  trains = [cmd for _, cmd, _ in steps if cmd[2] == "train.main"]
  assert len(trains) == 2 * 5 * 2 and len(steps) == 3 * len(trains)
  assert trains[0][trains[0].index("--config") + 1].endswith(":act3")  # the key pair first
  configs = [defaults.load_config(*c[c.index("--config") + 1].split(":")) for c in trains]
  assert {c.scheduled_args.act_lambda.decay_epochs for c in configs} == {0, configs[0].num_epochs // 3}


def test_ablation_config_sets_act_num_and_rejects_a_bad_preset():
  assert defaults.load_config(vanillanet_deep_training.CONFIG, "act0_lambda1").model_kwargs.act_num == 0
  with pytest.raises(Exception, match="act<N>"):
    defaults.load_config(vanillanet_deep_training.CONFIG, "act10")


def test_plain_vs_resnet_plan_pairs_each_depth():
  steps = plain_vs_resnet.plan(ROOT, depths=[20, 56], seeds=[0])
  _check(steps)
  models = [defaults.load_config(*cmd[cmd.index("--config") + 1].split(":")).model
            for _, cmd, _ in steps if cmd[2] == "train.main"]
  assert models == ["resnet20_cifar", "plain20_cifar", "resnet56_cifar", "plain56_cifar"]


def test_cnn_chart_plan_ends_with_one_compare_over_every_run():
  steps = cnn_chart.plan(ROOT, list(cnn_chart.RUNS))
  _check(steps)
  label, cmd, done = steps[-1]
  assert label == "compare" and done is None
  workdirs = cmd[cmd.index("--workdir") + 1:cmd.index("--out")]
  assert workdirs == [c[c.index("--workdir") + 1] for _, c, _ in steps[:-1]]


def test_dry_run_prints_the_commands_and_runs_nothing(tmp_path, capsys):
  assert plain_vs_resnet.main(["--dry_run", "--root", str(tmp_path), "--depths", "20"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 6 and "train.main" in lines[0] and "plain20_cifar" in lines[3]
  assert not os.listdir(tmp_path)


def test_rise_is_the_mean_loss_at_plus_minus_a_minus_the_centre(tmp_path):
  import numpy as np
  axis = np.linspace(-1, 1, 21, dtype=np.float32)
  np.savez(tmp_path / "l.npz", axis=axis, loss=1.0 + 3 * axis ** 2 + axis)
  assert common.rise(str(tmp_path / "l.npz"), 0.5) == pytest.approx(0.75, rel=1e-5)


@pytest.mark.slow
def test_one_tiny_chart_end_to_end(tmp_path):
  """The MLP on digits trained through the runner, then the chart over it; timings recorded, rerun skips."""
  pytest.importorskip("matplotlib")
  args = [sys.executable, "-m", "experiments.cnn_chart", "--models", "mlp", "--root", str(tmp_path / "runs"),
          "--docs", str(tmp_path / "docs")]
  out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
  assert "| mlp | `mlp` |" in out
  assert os.path.exists(tmp_path / "docs" / "cnn_chart.png")
  timings = json.loads((tmp_path / "runs" / "cnn_chart" / "timings.json").read_text())
  assert set(timings) == {"mlp.train", "compare"}
  again = subprocess.run(args, capture_output=True, text=True, check=True).stdout
  assert "[mlp.train] done already" in again


def test_curve_puts_train_events_on_the_epoch_axis_of_the_eval_events():
  events = [{"kind": "train", "step": 22, "loss": 1.0}, {"kind": "eval", "step": 22, "loss": 2.0, "epoch": 1},
            {"kind": "train", "step": 44, "loss": 0.5}]
  assert common.curve(events, "train", "loss").tolist() == [[1.0, 1.0], [2.0, 0.5]]
