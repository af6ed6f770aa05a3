"""VanillaNet's shortcut ablation (`shortcut='before_act' | 'after_act'`): parameter-free, exact definitions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs import vanillanet
from tests.helpers import calibrated_random_variables, randomize_variables


def _count(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


@pytest.mark.parametrize("shortcut", ["before_act", "after_act"])
def test_shortcut_adds_no_parameters(shortcut):
  x = jnp.zeros((1, 224, 224, 3))
  for deploy, expected in ((True, 15_523_304), (False, 22_328_800)):
    model = archs.create_model("vanillanet_5", deploy=deploy, shortcut=shortcut)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
    assert _count(shapes["params"]) == expected, f"{shortcut}, deploy={deploy}: the paper's count {expected:,}"


def _block_outputs(shortcut, stride, x, variables):
  block = vanillanet.Block(8, stride=stride, shortcut=shortcut)
  return block.apply(variables, x, 0.5, capture_intermediates=True, mutable=["intermediates"])


@pytest.mark.parametrize("stride", [1, 2])
def test_after_act_adds_the_pooled_padded_input(stride):
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 5))
  variables = randomize_variables(jax.eval_shape(vanillanet.Block(8, stride=stride).init, jax.random.key(1), x), 2)
  plain, _ = _block_outputs("none", stride, x, variables)
  after, _ = _block_outputs("after_act", stride, x, variables)
  pooled = x if stride == 1 else jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
  expected = plain + jnp.pad(pooled, ((0, 0), (0, 0), (0, 0), (0, 3)))
  np.testing.assert_allclose(after, expected, atol=1e-6, err_msg="after_act: act(block(x)) + pad(pool(x))")


def test_before_act_adds_the_input_before_the_activation():
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 8))
  variables = randomize_variables(jax.eval_shape(vanillanet.Block(8, stride=1).init, jax.random.key(1), x), 2)
  plain, state = _block_outputs("none", 1, x, variables)
  before, _ = _block_outputs("before_act", 1, x, variables)
  pre_activation = state["intermediates"]["bn2"]["__call__"][0]
  act = vanillanet.SeriesActivation()
  expected = act.apply({"params": variables["params"]["act"], "batch_stats": variables["batch_stats"]["act"]},
                       pre_activation + x)
  np.testing.assert_allclose(before, expected, atol=1e-5, err_msg="before_act: act(block(x) + x)")
  assert not np.allclose(before, plain), "the shortcut must change the output"


@pytest.mark.slow
@pytest.mark.parametrize("shortcut", ["before_act", "after_act"])
def test_to_deploy_still_exact_with_shortcuts(shortcut):
  model = archs.create_model("vanillanet_5", width_multiplier=1 / 64, num_classes=10, shortcut=shortcut)
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = calibrated_random_variables(model, x, seed=0)
  deployed = archs.create_model("vanillanet_5", width_multiplier=1 / 64, num_classes=10, shortcut=shortcut,
                                deploy=True)
  np.testing.assert_allclose(deployed.apply(vanillanet.to_deploy(variables), x), model.apply(variables, x),
                             rtol=1e-4, atol=1e-4, err_msg=f"{shortcut}: deploy form != train form at lambda 1")


def test_bad_shortcut_raises():
  with pytest.raises(ValueError, match="shortcut 'identity'; accepted: none, before_act, after_act"):
    vanillanet.VanillaNet(dims=(8, 16), strides=(2,), shortcut="identity").init(jax.random.key(0),
                                                                                 jnp.zeros((1, 32, 32, 3)))
  with pytest.raises(ValueError, match="narrows 16 -> 8"):
    vanillanet.Block(8, stride=1, shortcut="after_act").init(jax.random.key(0), jnp.zeros((1, 2, 2, 16)))
