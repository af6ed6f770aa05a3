"""VanillaNet: parameter counts (spec 1.6), deep-training activation, shapes, ada pool, one compilation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs import vanillanet
from archs.layers.activations import leaky_relu
from tests.helpers import calibrated_random_variables, randomize_variables

# ARCHITECTURES.md section 1.6: (deploy, train-mode) parameters at 1000 classes.
ORACLES = {
    "vanillanet_5": (15_523_304, 22_328_800),
    "vanillanet_6": (32_509_416, 56_116_704),
    "vanillanet_7": (32_797_672, 56_670_176),
    "vanillanet_8": (37_096_424, 65_175_520),
    "vanillanet_9": (41_395_176, 73_680_864),
    "vanillanet_10": (45_693_928, 82_186_208),
    "vanillanet_11": (49_992_680, 90_691_552),
    "vanillanet_12": (54_291_432, 99_196_896),
    "vanillanet_13": (58_590_184, 107_702_240),
    "vanillanet_13_x1_5": (127_796_200, 236_942_048),
    "vanillanet_13_x1_5_ada_pool": (127_796_200, 236_942_048),
}


def _shapes(model, size=224, **kw):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), **kw))


def _count(tree):
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def test_every_variant_is_registered_with_its_fusion():
  assert archs.list_models("vanillanet*") == sorted(ORACLES), "expected exactly the 11 reference variants"
  for name in ORACLES:
    assert archs.get_to_deploy(name) is vanillanet.to_deploy, f"{name}: to_deploy not registered"


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_parameter_counts_of_both_forms(name):
  deploy_expected, train_expected = ORACLES[name]
  deploy = _shapes(archs.create_model(name, deploy=True))
  train = _shapes(archs.create_model(name))
  assert _count(deploy["params"]) == deploy_expected, f"{name} deploy: expected {deploy_expected:,}"
  assert _count(train["params"]) == train_expected, f"{name} train form: expected {train_expected:,}"
  assert set(deploy) == {"params"}, "the deploy form has no BatchNorm statistics"
  assert set(train) == {"params", "batch_stats"}


def test_leaky_relu_interpolates_relu_and_identity_with_a_traced_lambda():
  """leaky_relu(x, lam) == (1 - lam) ReLU(x) + lam x; lam = 0 is ReLU, lam = 1 the identity."""
  x = jnp.linspace(-3.0, 3.0, 61)
  apply = jax.jit(leaky_relu)
  for lam in (0.0, 0.25, 0.5, 1.0):
    expected = (1 - lam) * np.maximum(x, 0) + lam * np.asarray(x)
    np.testing.assert_allclose(apply(x, jnp.float32(lam)), expected, rtol=0, atol=1e-7,
                               err_msg=f"leaky_relu(x, {lam}) != (1-lam) ReLU(x) + lam x")
  np.testing.assert_array_equal(apply(x, jnp.float32(0.0)), jax.nn.relu(x), err_msg="lam=0 must be ReLU")
  np.testing.assert_array_equal(apply(x, jnp.float32(1.0)), x, err_msg="lam=1 must be the identity")


def test_stem_at_lambda_zero_is_relu_between_the_convs():
  """Model level: the train-form stem at act_lambda=0 == act(BN2(conv1x1(ReLU(BN1(conv4x4 x)))))."""
  stem = vanillanet.Stem(8)
  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
  variables = randomize_variables(jax.eval_shape(stem.init, jax.random.key(1), x), seed=2)
  p, s = variables["params"], variables["batch_stats"]

  def bn(y, name):
    return (y - s[name]["mean"]) / jnp.sqrt(s[name]["var"] + 1e-6) * p[name]["scale"] + p[name]["bias"]

  y = jax.lax.conv_general_dilated(x, p["conv1"]["kernel"], (4, 4), "VALID",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["conv1"]["bias"]
  y = jnp.einsum("bhwi,io->bhwo", jax.nn.relu(bn(y, "bn1")), p["conv2"]["kernel"][0, 0]) + p["conv2"]["bias"]
  expected = vanillanet.SeriesActivation().apply({"params": p["act"], "batch_stats": s["act"]}, bn(y, "bn2"))
  got = stem.apply(variables, x, act_lambda=0.0)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg="stem at act_lambda=0 != ReLU form")
  linear = stem.apply(variables, x, act_lambda=1.0)
  assert float(jnp.max(jnp.abs(linear - got))) > 1e-2, "act_lambda must change the train-form output"


def test_output_shapes_and_features():
  model = archs.create_model("vanillanet_5")
  out = _shapes(model, return_features=False)
  feats = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((2, 224, 224, 3)), return_features=True), out)
  assert feats["logits"].shape == (2, 1000), f"expected logits (2, 1000), got {feats['logits'].shape}"
  assert feats["pre_logits"].shape == (2, 4096)
  sides = [f.shape[1] for f in feats["stages"]]
  assert sides == [56, 28, 14, 7], f"expected stem 56 then 28, 14, 7, got {sides}"


def test_ada_pool_variant_shapes():
  """Stem conv stride 3 pad 1: 224 -> 75x75, then adaptive max pools to 38, 19 and 10."""
  model = archs.create_model("vanillanet_13_x1_5_ada_pool", deploy=True)
  variables = _shapes(model)
  feats = jax.eval_shape(lambda v: model.apply(v, jnp.zeros((1, 224, 224, 3)), return_features=True), variables)
  sides = [f.shape[1] for f in feats["stages"]]
  assert sides == [75, 75, 38, 19, 19, 19, 19, 19, 19, 19, 10, 10], f"unexpected feature sides {sides}"
  assert feats["stages"][0].shape == (1, 75, 75, 768)
  assert feats["logits"].shape == (1, 1000)


@pytest.mark.parametrize("length,size", [(75, 38), (38, 19), (19, 10), (7, 3), (5, 8)])
def test_adaptive_max_pool_matches_pytorch_bins(length, size):
  x = np.asarray(jax.random.normal(jax.random.key(0), (2, length, length + 1, 3)))
  expected = np.empty((2, size, size, 3), np.float32)
  for i in range(size):
    for j in range(size):
      h0, h1 = (i * length) // size, -(-(i + 1) * length // size)
      w0, w1 = (j * (length + 1)) // size, -(-(j + 1) * (length + 1) // size)
      expected[:, i, j] = x[:, h0:h1, w0:w1].max(axis=(1, 2))
  np.testing.assert_array_equal(vanillanet.adaptive_max_pool(jnp.asarray(x), size), expected,
                                err_msg=f"adaptive max pool {length}->{size} != PyTorch floor/ceil bins")


def test_changing_act_lambda_compiles_once():
  model = archs.create_model("vanillanet_5", width_multiplier=1 / 64, num_classes=10)
  x = jnp.ones((2, 32, 32, 3))
  variables = calibrated_random_variables(model, x, seed=0)
  traces = []

  @jax.jit
  def apply(variables, x, act_lambda):
    traces.append(1)
    return model.apply(variables, x, act_lambda=act_lambda)

  outputs = [apply(variables, x, jnp.float32(lam)) for lam in (0.0, 0.5, 1.0)]
  assert len(traces) == 1 and apply._cache_size() == 1, f"expected one compilation, got {len(traces)} traces"
  assert not np.allclose(outputs[0], outputs[2]), "act_lambda must reach the computation"


def test_bad_configurations_raise():
  x = jnp.zeros((1, 32, 32, 3))
  with pytest.raises(ValueError, match="dims"):
    vanillanet.VanillaNet(dims=(8, 16), strides=(2, 2)).init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="ada_pool"):
    vanillanet.VanillaNet(dims=(8, 16), strides=(2,), ada_pool=(0, 4)).init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="batch_stats"):
    vanillanet.to_deploy({"params": {}})
