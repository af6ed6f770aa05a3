"""Each user error: exit status 2, ONE line on stderr naming the bad value (and what is accepted), no traceback;
a bug (in a config file or a model) keeps its traceback."""
import os
import subprocess
import sys

import flax.linen as nn
import jax.numpy as jnp
import pytest

import archs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {  # override -> text the one-line message must contain
    "--config.model=lenet6": "'lenet6'",
    "--config.dataset=nosuchdata": "'nosuchdata'",
    "--config.optimizer.name=adamm": "'adamm'",
    "--config.schedule.name=linear": "'linear'",
    "--config.zzz=1": "'zzz'",
    "--config.optimizer.zz=1": "'optimizer.zz'",
    "--config.model_kwargs.foo=1": "model_kwargs.foo: the config file sets no key 'foo'",
    "--config.dtype=float16": "'float16'",
    "--config.batch_size=30": "batch_size=30",          # 8 devices in tests
    "--config.image_size=28": "(1, 28, 28, 1)",          # LeNet-5 takes 32x32
    "--config.learning_rate=nan": "learning_rate=nan",  # refused before anything runs
    "--config.learning_rate=1e30": "non-finite loss",    # diverges at once
    "--config.export_deploy=True": "'lenet5' has no deploy form",
}


@pytest.mark.parametrize("override", list(CASES))
def test_user_error_is_one_line_exit_2(override, tmp_path):
  cmd = [sys.executable, "-m", "train.main", "--config", "configs/lenet5.py", "--workdir", str(tmp_path),
         "--config.num_epochs=1", "--config.batch_size=64", "--config.num_devices=0", override]
  done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True,
                        timeout=300)
  lines = [l for l in done.stderr.splitlines() if l.startswith("error:")]
  assert done.returncode == 2, f"{override}: expected exit status 2, got {done.returncode}: {done.stderr[-1500:]}"
  assert "Traceback" not in done.stderr, f"{override}: a user error must not show a traceback"
  assert len(lines) == 1 and CASES[override] in lines[0], f"{override}: expected one error line naming " \
                                                          f"{CASES[override]}, got {done.stderr[-800:]}"
  if override == "--config.learning_rate=1e30":
    assert "at step 3" in lines[0], "after two updates with lr=1e30 the loss is nan"
    assert not os.path.isdir(tmp_path / "checkpoints") or not os.listdir(tmp_path / "checkpoints"), \
        "a diverged run must not save its state"


def test_missing_config_file(tmp_path):
  cmd = [sys.executable, "-m", "train.main", "--config", "configs/nosuch.py", "--workdir", str(tmp_path)]
  done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert done.returncode == 2 and "Traceback" not in done.stderr and "nosuch.py" in done.stderr, done.stderr[-800:]


def test_a_bug_in_the_config_file_keeps_its_traceback(tmp_path):
  config = tmp_path / "buggy.py"
  config.write_text("from train import defaults\n\ndef get_config(arg=None):\n  c = defaults.base_config()\n"
                    "  c.num_epochs = 1 + 'x'\n  return c\n")
  cmd = [sys.executable, "-m", "train.main", "--config", str(config), "--workdir", str(tmp_path / "w")]
  done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert done.returncode not in (0, 2), f"a bug is not a user error (exit 2): {done.stderr[-800:]}"
  assert "Traceback" in done.stderr and "buggy.py" in done.stderr and "unsupported operand" in done.stderr, \
      f"expected the config file's traceback, got {done.stderr[-800:]}"


class _BuggyModel(nn.Module):
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1)) * (1 + "x")


def test_a_bug_in_the_model_keeps_its_traceback(tmp_path, monkeypatch):
  from train import defaults, trainer
  monkeypatch.setattr(archs, "create_model", lambda name, **kwargs: _BuggyModel(**kwargs))
  c = defaults.base_config()
  c.num_epochs, c.batch_size = 1, 64
  with pytest.raises(TypeError, match="unsupported operand"):
    trainer.train_and_evaluate(c, str(tmp_path))
