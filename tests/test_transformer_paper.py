"""The Transformer paper's learning-rate schedule (Vaswani et al. 2017, Eq. 3) and its `:paper` preset."""
import numpy as np
import pytest

from train import defaults, optim


def paper_lr(step_num, d_model=512, warmup=4000):
  return d_model ** -0.5 * min(step_num ** -0.5, step_num * warmup ** -1.5)


def test_inverse_sqrt_schedule_is_the_papers_formula():
  schedule = optim.inverse_sqrt_schedule((512 * 4000) ** -0.5, 4000)
  for step in (0, 1, 999, 3999, 4000, 20_000, 99_999):  # optax counts from 0, the paper's step_num from 1
    assert float(schedule(step)) == pytest.approx(paper_lr(step + 1), rel=1e-5), f"lr at step {step}"
  assert float(schedule(3999)) == pytest.approx(6.988e-4, rel=1e-3), "peak (512 x 4000)^-0.5 at the end of warmup"


def test_config_schedule_converts_warmup_epochs_to_steps():
  c = defaults.load_config("transformer", "paper")
  schedule = optim.learning_rate_schedule(c, steps_per_epoch=128)
  lrs = np.array([float(schedule(s)) for s in (3998, 3999, 4000)])
  assert lrs.argmax() == 1, f"warmup ends at 4000 steps: {lrs}"
  assert float(schedule(3999)) == pytest.approx(paper_lr(4000, d_model=64), rel=1e-5)


def test_paper_preset():
  c = defaults.load_config("transformer", "paper")
  assert (c.optimizer.name, c.optimizer.b1, c.optimizer.b2, c.optimizer.eps) == ("adam", 0.9, 0.98, 1e-9)
  assert c.task_kwargs["label_smoothing"] == 0.1 and c.model_kwargs["dropout_rate"] == 0.1
  assert not c.model_kwargs["pre_ln"], "the paper's post-LN layers"
  assert c.num_epochs * 128 >= 100_000, "100k training steps (Sec. 5.3)"
