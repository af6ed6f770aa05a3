"""to_deploy (spec 1.5): at act_lambda = 1 the fused deploy model equals the train form in eval mode."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from tests.helpers import calibrated_random_variables, randomize_variables

TOLERANCE = 1e-4  # max |deploy - train| / max |train|, float32


def _relative_error(name, size, batch=4, **overrides):
  """Fuses random train-form variables of `name`; returns (relative error, spread of the reference)."""
  train_model = archs.create_model(name, **overrides)
  deploy_model = archs.create_model(name, deploy=True, **overrides)
  x = jax.random.normal(jax.random.key(0), (batch, size, size, 3))
  variables = calibrated_random_variables(train_model, x, seed=1)
  before = jax.tree.map(np.array, variables)
  deployed = archs.get_to_deploy(name)(variables)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b, err_msg="to_deploy mutated its input"),
               before, jax.tree.map(np.asarray, variables))
  assert jax.tree.structure(deployed) == jax.tree.structure(
      jax.eval_shape(deploy_model.init, jax.random.key(0), x)), f"{name}: deploy tree != deploy model's"
  reference = np.asarray(jax.jit(lambda v, x: train_model.apply(v, x, train=False, act_lambda=1.0))(variables, x),
                         np.float64)
  fused = np.asarray(jax.jit(deploy_model.apply)(deployed, x), np.float64)
  scale = np.abs(reference).max()
  return np.abs(fused - reference).max() / scale, np.abs(reference - reference.mean(0)).max() / scale


# Every variant's structure (strides, ada_pool, stem) at 1/64 of the widths (8 .. 64; x1.5: 12 .. 96).
# The ada variant runs at 224 (stem 75, adaptive pools to 38, 19, 10); the others at 64 (final 2x2).
@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in ("vanillanet_5", "vanillanet_13_x1_5_ada_pool")
                                               else (pytest.mark.slow,)) for n in archs.list_models("vanillanet*")])
def test_fused_equals_unfused_every_variant(name):
  size = 224 if "ada_pool" in name else 64
  error, spread = _relative_error(name, size, width_multiplier=1 / 64, num_classes=10)
  print(f"{name}: max relative error {error:.2e}, input spread {spread:.2f}")
  assert spread > 0.05, f"{name}: outputs barely depend on the input (spread {spread:.2e}); test is vacuous"
  assert error < TOLERANCE, f"{name}: deploy vs train relative error {error:.2e}, expected < {TOLERANCE}"


def test_fused_equals_unfused_vanillanet_5_full_width():
  """The full model (512 .. 4096 wide, 1000 classes) at 32x32 (stem 8x8, final 1x1)."""
  error, spread = _relative_error("vanillanet_5", 32)
  print(f"vanillanet_5 full width: max relative error {error:.2e}, input spread {spread:.2f}")
  assert spread > 0.05, f"outputs barely depend on the input (spread {spread:.2e}); test is vacuous"
  assert error < TOLERANCE, f"deploy vs train relative error {error:.2e}, expected < {TOLERANCE}"


def test_fusion_is_exact_only_at_lambda_one():
  """At act_lambda = 0 the train form is nonlinear between the convs: the fused model must differ."""
  overrides = dict(width_multiplier=1 / 64, num_classes=10)
  train_model = archs.create_model("vanillanet_5", **overrides)
  x = jax.random.normal(jax.random.key(0), (2, 64, 64, 3))
  variables = calibrated_random_variables(train_model, x, seed=1)
  fused = archs.create_model("vanillanet_5", deploy=True, **overrides).apply(archs.vanillanet.to_deploy(variables), x)
  relu_form = train_model.apply(variables, x, act_lambda=0.0)
  difference = float(jnp.abs(fused - relu_form).max() / jnp.abs(relu_form).max())
  assert difference > 1e-2, f"expected the act_lambda=0 model to differ from the fused one, got {difference:.2e}"


def test_to_deploy_runs_under_jit():
  overrides = dict(width_multiplier=1 / 64, num_classes=10)
  model = archs.create_model("vanillanet_6", **overrides)
  variables = randomize_variables(jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3))), seed=0)
  eager = archs.vanillanet.to_deploy(variables)
  jitted = jax.jit(archs.vanillanet.to_deploy)(variables)
  # Equal up to float32 rounding: XLA fuses the folds (reciprocal square roots, the 1x1 merge) in another order.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), eager, jitted)
