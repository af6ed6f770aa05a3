"""ConvNeXt: counts against the reference, the block against a numpy computation, drop path, head init."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

import archs
from helpers import n_params
from archs.convnext import ConvNeXt, ConvNeXtBlock

ORACLES = {  # facebookresearch/ConvNeXt, 1000 classes
    "convnext_tiny": 28_589_128, "convnext_small": 50_223_688, "convnext_base": 88_591_464,
    "convnext_large": 197_767_336, "convnext_xlarge": 350_196_968,
}
SMALL = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32), num_classes=7)


pytestmark = pytest.mark.usefixtures("fast_compile")


def init(model, x, seed=0):
  return jax.jit(lambda x: model.init(jax.random.key(seed), x))(x)  # one compile beats eager dispatch


def jitted(model, **kwargs):
  """model.apply under jit with fixed keyword arguments; call as f(variables, x, seed) (seed of 'dropout')."""
  fn = jax.jit(lambda v, x, key: model.apply(v, x, rngs={"dropout": key}, **kwargs))
  return lambda variables, x, seed=0: fn(variables, x, jax.random.key(seed))



@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_reference(name):
  model = archs.create_model(name)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
  assert n_params(shapes["params"]) == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params"


@pytest.mark.parametrize("dim", [8, 96])
def test_block_param_count(dim):
  shapes = jax.eval_shape(lambda: ConvNeXtBlock().init(jax.random.key(0), jnp.zeros((1, 8, 8, dim))))
  assert n_params(shapes["params"]) == 8 * dim**2 + 58 * dim, f"block params 8d^2 + 58d for d={dim}"


def numpy_block(x, p):
  """The reference block in plain numpy: dwconv7x7 -> LN(1e-6) -> Linear 4d -> exact GELU -> Linear d -> gamma."""
  b, h, w, c = x.shape
  xp = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)))
  k = p["dwconv"]["kernel"][:, :, 0, :]  # (7, 7, C)
  y = np.zeros_like(x)
  for i in range(7):
    for j in range(7):
      y += xp[:, i:i + h, j:j + w, :] * k[i, j]
  y += p["dwconv"]["bias"]
  mu, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
  y = (y - mu) / np.sqrt(var + 1e-6) * p["norm"]["scale"] + p["norm"]["bias"]
  y = y @ p["pwconv1"]["kernel"] + p["pwconv1"]["bias"]
  y = y * 0.5 * (1.0 + erf(y / math.sqrt(2.0)))
  y = y @ p["pwconv2"]["kernel"] + p["pwconv2"]["bias"]
  return x + p["gamma"] * y


def test_block_matches_numpy_reference():
  x = np.random.default_rng(0).normal(size=(2, 9, 9, 8)).astype(np.float32)
  block = ConvNeXtBlock()
  params = block.init(jax.random.key(1), x)["params"]
  assert np.allclose(params["gamma"], 1e-6), "layer scale gamma initialises to 1e-6"
  # Random non-trivial values everywhere, so that every term matters.
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])
  got = np.asarray(block.apply({"params": params}, x))
  want = numpy_block(x.astype(np.float64), jax.tree.map(lambda a: np.asarray(a, np.float64), params))
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg="ConvNeXt block differs from the numpy reference")


@pytest.fixture(scope="module")
def small():
  model = ConvNeXt(**SMALL, drop_path_rate=0.6)
  x = jax.random.normal(jax.random.key(3), (2, 32, 32, 3))
  return model, init(model, x, 4), x


def test_logits_and_features_shapes(small):
  model, variables, x = small
  out = jitted(model, return_features=True)(variables, x)
  assert out["logits"].shape == (2, 7) and out["logits"].dtype == jnp.float32, "logits (B, num_classes) float32"
  assert out["pre_logits"].shape == (2, 32), f"pre_logits (2, 32) expected, got {out['pre_logits'].shape}"
  shapes = [s.shape for s in out["stages"]]
  want = [(2, 8, 8, 8), (2, 4, 4, 16), (2, 2, 2, 24), (2, 1, 1, 32)]
  assert shapes == want, f"stage maps (stride 4, then /2) expected {want}, got {shapes}"


def test_drop_path_train_vs_eval(small):
  model, variables, x = small
  ev = jitted(model, train=False, return_features=True)(variables, x)
  ev_no_drop = jitted(ConvNeXt(**SMALL), train=False)(variables, x)
  np.testing.assert_allclose(ev["logits"], ev_no_drop, rtol=1e-6, err_msg="drop path is the identity at eval")
  run = jitted(model, train=True, return_features=True)
  tr = [run(variables, x, seed) for seed in range(4)]
  # Rates are linspace(0, rate, blocks): the very first block has rate 0, so stage 0 is deterministic.
  for t in tr:
    np.testing.assert_allclose(t["stages"][0], ev["stages"][0], rtol=1e-6, err_msg="first block's rate is 0")
  assert any(not np.allclose(t["logits"], ev["logits"]) for t in tr), "drop path must act in train mode"


def test_head_init_scale():
  x = jnp.zeros((1, 32, 32, 3))
  base = init(ConvNeXt(**SMALL), x, 5)["params"]["head"]
  scaled = init(ConvNeXt(**SMALL, head_init_scale=1e-3), x, 5)["params"]["head"]
  np.testing.assert_allclose(scaled["kernel"], 1e-3 * base["kernel"], rtol=1e-6,
                             err_msg="head weight x head_init_scale")
  assert float(jnp.abs(base["bias"]).max()) == 0.0, "head bias initialises to 0"
  assert 0.015 < float(jnp.std(base["kernel"])) < 0.025, "weights ~ N(0, 0.02^2)"


def test_every_parameter_receives_gradient():
  model = ConvNeXt(depths=(1, 1), dims=(8, 16), num_classes=5, drop_path_rate=0.1)
  x = jax.random.normal(jax.random.key(6), (2, 16, 16, 3))
  params = init(model, x, 7)["params"]

  def loss(p):
    logits = model.apply({"params": p}, x, train=True, rngs={"dropout": jax.random.key(8)})
    return jnp.sum(logits * jnp.arange(1, 6))

  flat = jax.tree_util.tree_flatten_with_path(jax.jit(jax.grad(loss))(params))[0]
  dead = [jax.tree_util.keystr(k) for k, g in flat if not bool(jnp.any(g != 0))]
  assert not dead, f"parameters without gradient: {dead}"


def test_mismatched_depths_and_dims_rejected():
  with pytest.raises(ValueError, match="one dim per stage"):
    ConvNeXt(depths=(1, 1), dims=(8,)).init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))


def test_tiny_feature_shapes_at_224():
  model = archs.create_model("convnext_tiny")
  x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
  out = jax.eval_shape(lambda v, x: model.apply(v, x, return_features=True), variables, x)
  want = [(2, 56, 56, 96), (2, 28, 28, 192), (2, 14, 14, 384), (2, 7, 7, 768)]
  assert [s.shape for s in out["stages"]] == want, f"ConvNeXt-T at 224: stage maps {want} expected"
  assert out["pre_logits"].shape == (2, 768) and out["logits"].shape == (2, 1000), "pre_logits (2, 768)"
