"""Log and checkpoint cadence given in epochs follows the batch size; in steps it stays fixed."""
import json

import flax.linen as nn
import jax.numpy as jnp
import pytest

import archs
from train import defaults, errors, trainer


class TinyNet(nn.Module):
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


def _run(tmp_path, monkeypatch, batch_size, **cadence):
  monkeypatch.setattr(archs, "create_model", lambda name, **kwargs: TinyNet(**kwargs))
  c = defaults.base_config()
  c.dataset, c.image_size, c.synthetic_examples = "synthetic", 4, 64
  c.num_epochs, c.batch_size, c.steps_per_call, c.keep_checkpoints = 4, batch_size, 1, 100
  for key, value in cadence.items():
    c[key] = value
  workdir = tmp_path / f"b{batch_size}"
  trainer.train_and_evaluate(c, str(workdir))
  events = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  saved = sorted(int(d.name) for d in (workdir / "checkpoints").iterdir() if d.name.isdigit())
  return [e["step"] for e in events if e["kind"] == "train"], saved


@pytest.mark.parametrize("batch_size", [16, 8])
def test_cadence_in_epochs_follows_the_batch_size(tmp_path, monkeypatch, batch_size):
  steps_per_epoch = 64 // batch_size
  logged, saved = _run(tmp_path, monkeypatch, batch_size, log_every_epochs=0.5, log_every_steps=0,
                       checkpoint_every_epochs=2.0, checkpoint_every_steps=0)
  half = steps_per_epoch // 2
  assert logged == list(range(half, 4 * steps_per_epoch + 1, half)), f"a train line every half epoch: {logged}"
  assert saved == [2 * steps_per_epoch, 4 * steps_per_epoch], f"a checkpoint every 2 epochs: {saved}"


def test_cadence_in_steps(tmp_path, monkeypatch):
  logged, saved = _run(tmp_path, monkeypatch, 8, log_every_steps=3, checkpoint_every_steps=12)
  assert logged == sorted({*range(3, 33, 3), *range(8, 33, 8)}), f"every 3 steps and at epoch ends: {logged}"
  assert saved == [12, 24, 32], f"every 12 steps and at the end: {saved}"


def test_cadence_in_both_epochs_and_steps_is_a_user_error(tmp_path, monkeypatch):
  with pytest.raises(errors.UserError, match="log_every_epochs=1.0 and log_every_steps=50 both set"):
    _run(tmp_path, monkeypatch, 8, log_every_epochs=1.0)  # the default log_every_steps is 50
