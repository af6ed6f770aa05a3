"""What a user sees: --help, a missing --config, the default workdir, epoch lines, resume and summary lines."""
import os
import subprocess
import sys

from train import logs, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, cwd):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
  return subprocess.run([sys.executable, "-m", "train.main", *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=600)


def test_help_lists_the_flags(tmp_path):
  done = _run(["--help"], tmp_path)
  assert done.returncode == 0, done.stderr[-1000:]
  for flag in ("--config", "--workdir", "--config.KEY=VALUE", "--num_processes"):
    assert flag in done.stdout, f"--help should list {flag}: {done.stdout}"


def test_missing_config_is_one_line(tmp_path):
  done = _run([], tmp_path)
  assert done.returncode == 2 and done.stderr.strip().startswith("error: --config is required"), done.stderr
  assert "\n" not in done.stderr.strip()


def test_default_workdir_is_named_after_the_config_and_preset():
  assert main.default_workdir("configs/convnext.py:imagenet") == os.path.join("runs", "convnext_imagenet")
  assert main.default_workdir("/abs/path/lenet5.py") == os.path.join("runs", "lenet5")


def test_the_command_as_written_reports_epochs_resume_and_result(tmp_path):
  config = os.path.join(ROOT, "configs", "lenet5.py")
  first = _run(["--config", config, "--config.num_epochs=1", "--config.batch_size=256"], tmp_path)
  assert first.returncode == 0, first.stderr[-2000:]
  workdir = tmp_path / "runs" / "lenet5"
  assert (workdir / "summary.json").exists(), "the workdir defaults to runs/<config> under the current directory"
  lines = first.stdout.splitlines()
  assert lines[0] == f"workdir: {workdir}", lines
  assert any(l.startswith("epoch 1/1: eval accuracy ") for l in lines), lines
  assert lines[-1].startswith("done: 1 epochs (5 steps) of lenet5: eval accuracy "), lines
  again = _run(["--config", config, "--config.num_epochs=1", "--config.batch_size=256"], tmp_path)
  assert "resumed from step 5 of 5 (the run had finished)" in again.stdout and again.stdout.splitlines()[-1] \
      .startswith("done: 1 epochs"), again.stdout


def test_a_long_epoch_prints_progress_between_log_points(capsys):
  progress = logs.Progress(total_steps=100, steps_per_epoch=100, every_seconds=0.0)
  progress.start(0)
  progress.tick(10)
  progress.tick(20)
  progress.close()
  err = capsys.readouterr().err.splitlines()
  assert err[0].startswith("step 10/100 epoch 1/1 ETA") and err[1].startswith("step 20/100"), err
