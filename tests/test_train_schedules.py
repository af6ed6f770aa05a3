"""Scheduled arguments, learning-rate schedules and the weight-decay mask."""
import math

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from train import defaults, optim, scheduled_args


def test_deep_training_lambda_linear():
  for epoch, expected in [(0, 0.0), (50, 0.5), (100, 1.0), (150, 1.0)]:
    assert scheduled_args.deep_training_lambda(epoch, 100, "linear") == pytest.approx(expected), f"linear lam({epoch})"


def test_deep_training_lambda_cosine():
  assert scheduled_args.deep_training_lambda(50, 100, "cosine") == pytest.approx(0.5)
  assert scheduled_args.deep_training_lambda(25, 100, "cosine") == pytest.approx(0.5 * (1 - math.cos(math.pi / 4)))
  assert scheduled_args.deep_training_lambda(25, 100, "cosine") == pytest.approx(0.1464, abs=1e-4)
  assert scheduled_args.deep_training_lambda(100, 100, "cosine") == 1.0


def test_lambda_constant_within_epoch_unless_per_step():
  spec = {"kind": "deep_training", "decay_epochs": 4, "shape": "linear", "per_step": False}
  per_epoch = scheduled_args.ScheduledArgs({"act_lambda": spec}, steps_per_epoch=10)
  np.testing.assert_allclose(per_epoch.values(10, 10)["act_lambda"], np.full(10, 0.25),
                             err_msg="epoch 1 of 4: lambda 0.25 at every step")
  per_step = scheduled_args.ScheduledArgs({"act_lambda": {**spec, "per_step": True}}, steps_per_epoch=10)
  np.testing.assert_allclose(per_step.values(10, 2)["act_lambda"], [0.25, 0.275], rtol=1e-6,
                             err_msg="per_step: fractional epoch 1.0 and 1.1 of 4")
  chex.assert_type(per_step.values(10, 3)["act_lambda"], np.float32)


def _config(name, **schedule):
  c = defaults.base_config()
  c.num_epochs, c.learning_rate = 10, 0.4
  c.schedule.name = name
  for k, v in schedule.items():
    c.schedule[k] = v
  return c


def test_warmup_cosine_schedule():
  lr = optim.learning_rate_schedule(_config("warmup_cosine", warmup_epochs=2, min_lr=1e-3), steps_per_epoch=10)
  assert float(lr(0)) == 0.0, "warmup starts at 0"
  assert float(lr(20)) == pytest.approx(0.4), "peak = learning_rate at the end of warmup"
  assert float(lr(100)) == pytest.approx(1e-3), "ends at min_lr"
  assert 1e-3 < float(lr(60)) < 0.4


def test_cosine_step_constant_schedules():
  cos = optim.learning_rate_schedule(_config("cosine", min_lr=0.0), steps_per_epoch=10)
  assert float(cos(0)) == pytest.approx(0.4) and float(cos(50)) == pytest.approx(0.2) and float(cos(100)) < 1e-7
  step = optim.learning_rate_schedule(_config("step", boundaries_epochs=(3, 6), decay_factor=0.1), 10)
  assert [float(step(s)) for s in (29, 30, 59, 60)] == pytest.approx([0.4, 0.04, 0.04, 0.004])
  assert float(optim.learning_rate_schedule(_config("constant"), 10)(77)) == pytest.approx(0.4)


def test_weight_decay_mask_skips_biases_and_scales():
  params = {"conv": {"kernel": jnp.ones((3, 3, 2, 4)), "bias": jnp.ones(4)},
            "norm": {"scale": jnp.ones(4), "bias": jnp.ones(4)}, "dense": {"kernel": jnp.ones((4, 2))}}
  mask = optim.decay_mask(params)
  assert mask == {"conv": {"kernel": True, "bias": False}, "norm": {"scale": False, "bias": False},
                  "dense": {"kernel": True}}


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_weight_decay_applies_only_to_masked(name):
  c = _config("constant")
  c.optimizer.name, c.weight_decay, c.learning_rate = name, 0.1, 1.0
  tx, _ = optim.make_optimizer(c, steps_per_epoch=1)
  params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
  zeros = {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros(2)}
  updates, _ = tx.update(zeros, tx.init(params), params)
  assert np.all(np.asarray(updates["bias"]) == 0), f"{name}: a bias must not be decayed"
  assert np.all(np.asarray(updates["kernel"]) < 0), f"{name}: a kernel must be decayed towards 0"
