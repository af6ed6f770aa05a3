"""Weight initialisation and normalisation chosen by name (archs/layers/initializers.py, archs/layers/norms.py)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from archs.layers.initializers import kernel_init
from archs.layers.norms import make_norm
from archs.mlp import MLP


@pytest.mark.parametrize("spec,variance", [
    ("lecun", 1 / 400), ("lecun:uniform", 1 / 400), ("xavier", 2 / 500), ("glorot:normal", 2 / 500),
    ("he", 2 / 400), ("kaiming:uniform", 2 / 400), ("normal:0.05", 0.05**2), ("normal", 0.01**2)])
def test_kernel_init_variance(spec, variance):
  w = kernel_init(spec)(jax.random.key(0), (400, 100))  # fan-in 400, fan-out 100
  assert float(jnp.var(w)) == pytest.approx(variance, rel=0.03), f"{spec}: variance of a 400x100 kernel"


def test_kernel_init_zeros_default_and_errors():
  assert not np.any(kernel_init("zeros")(jax.random.key(0), (3, 3)))
  assert kernel_init(None) is None and kernel_init("default") is None, "default: the model keeps its own init"
  for bad in ("orthogonal", "normal:x", "he:fan_out", "zeros:1"):
    with pytest.raises(ValueError, match=r"kernel_init .*accepted: default, zeros, normal\[:std\]"):
      kernel_init(bad)


def _pre_activation_stds(spec, depth=12, width=128):
  x = jax.random.normal(jax.random.key(0), (128, width))
  model = MLP(hidden_sizes=(width,) * depth, kernel_init=spec)
  is_hidden = lambda m, method: method == "__call__" and (m.name or "").startswith("hidden_")

  @jax.jit
  def stds(x):
    variables = model.init(jax.random.key(1), x)
    _, state = model.apply(variables, x, capture_intermediates=is_hidden, mutable=["intermediates"])
    return jnp.stack([jnp.std(state["intermediates"][f"hidden_{i}"]["__call__"][0]) for i in range(depth)])
  return [float(s) for s in stds(x)]


@pytest.mark.slow  # ~4 s of CPU (XLA compiles)
def test_he_keeps_activation_scale_through_a_deep_relu_mlp():
  """He et al. 2015: variance 2/n keeps the pre-activation scale through ReLU layers; 1/n (LeCun) and Xavier
  (2/(n+m) = 1/n at equal widths) halve the variance at every layer: std x 2^-1/2, 2^-5.5 over 12 layers."""
  he, lecun, xavier = (_pre_activation_stds(s) for s in ("he", "lecun", "xavier"))
  assert 0.5 < he[-1] / he[0] < 2.0, f"he: std {he[0]:.3g} -> {he[-1]:.3g} over 12 layers, expected kept"
  for name, stds in (("lecun", lecun), ("xavier", xavier)):
    ratio = stds[-1] / stds[0]
    assert 2**-7 < ratio < 2**-4, f"{name}: std ratio over 12 layers {ratio:.3g}, expected ~2^-5.5 = 0.022"


@pytest.mark.slow  # ~4 s of CPU (XLA compiles)
def test_zero_init_leaves_hidden_units_symmetric():
  """With every kernel zero, each hidden unit gets the same gradient: after training, all units of a layer are
  still equal (here they get no gradient at all); with He's init they differ."""
  x = jax.random.normal(jax.random.key(0), (64, 8))
  y = jax.random.randint(jax.random.key(1), (64,), 0, 3)
  model = MLP(hidden_sizes=(16, 16), num_classes=3, activation="tanh")  # one step function for both inits
  tx = optax.sgd(0.5)
  loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()

  @jax.jit
  def step(params, state):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    return optax.apply_updates(params, updates), state
  for spec, symmetric in (("zeros", True), ("he", False)):
    params = model.clone(kernel_init=spec).init(jax.random.key(2), x)["params"]
    state = tx.init(params)
    for _ in range(10):
      params, state = step(params, state)
    for layer in ("hidden_0", "hidden_1"):
      k = np.asarray(params[layer]["kernel"])
      same = np.allclose(k, k[:, :1]) and np.allclose(params[layer]["bias"], params[layer]["bias"][0])
      assert same == symmetric, f"{spec}: units of {layer} equal={same}, expected {symmetric}"
    assert float(loss(params)) < np.log(3) or spec == "zeros", "he: the MLP learns"


# Small forms of each (same code paths): the registered names' full widths would take seconds to initialise.
SMALL = {"mlp": (dict(), (1, 8)), "lenet5": (dict(), (1, 32, 32, 1)),
         "alexnet": (dict(widths=(4, 4, 4, 4, 4), hidden=8), (1, 224, 224, 3)),
         "vgg11_bn": (dict(stages=((4,), (4,), (4,), (4,), (4,)), hidden=8, pool_size=1), (1, 32, 32, 3))}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_kernel_init_reaches_every_kernel(name):
  kwargs, shape = SMALL[name]
  params = archs.create_model(name, num_classes=3, kernel_init="zeros", **kwargs).init(
      jax.random.key(0), jnp.ones(shape))["params"]
  kernels = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(params)
             if "kernel" in jax.tree_util.keystr(p)}
  nonzero = [p for p, v in kernels.items() if np.any(v)]
  assert len(kernels) >= 2 and not nonzero, f"{name}: kernel_init='zeros' left {nonzero} non-zero"


def test_kernel_init_default_keeps_the_reference_init():
  x = jnp.zeros((1, 8))
  a = MLP(hidden_sizes=(4,)).init(jax.random.key(0), x)
  b = MLP(hidden_sizes=(4,), kernel_init="default").init(jax.random.key(0), x)
  assert jax.tree.all(jax.tree.map(lambda u, v: bool(jnp.all(u == v)), a, b)), "'default' is the reference's init"


# ---------------------------------------------------------------- normalisations against their formulas

def _formula(x, axes, eps=1e-5):
  mean = x.mean(axis=axes, keepdims=True)
  return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def _grouped(x, groups, eps=1e-5):
  b, h, w, c = x.shape
  g = x.reshape(b, h, w, groups, c // groups)
  return _formula(g, (1, 2, 4), eps).reshape(x.shape)


@pytest.mark.parametrize("kind", ["batch", "layer", "instance", "group", "group:8"])
def test_norm_matches_its_formula(kind):
  x = np.asarray(jax.random.normal(jax.random.key(0), (4, 5, 6, 64)) * 3 + 1, np.float64).astype(np.float32)
  layer = make_norm(kind, train=True)(name="norm")
  variables = layer.init(jax.random.key(1), x)
  out = layer.apply(variables, x, mutable=["batch_stats"])[0] if kind == "batch" else layer.apply(variables, x)
  expected = {"batch": lambda: _formula(x, (0, 1, 2)), "layer": lambda: _formula(x, (1, 2, 3)),
              "instance": lambda: _formula(x, (1, 2)), "group": lambda: _grouped(x, 32),
              "group:8": lambda: _grouped(x, 8)}[kind]()
  np.testing.assert_allclose(out, expected, atol=2e-5, err_msg=f"{kind} norm: (x - mean) / sqrt(var + eps)")
  assert jax.tree.map(jnp.shape, variables["params"]) == {"scale": (64,), "bias": (64,)}, kind


def test_norm_errors():
  for bad in ("weight", "group:0", "layer:2", "group:x"):
    with pytest.raises(ValueError, match=r"norm '.*'; accepted: batch, layer, instance, group\[:G\]"):
      make_norm(bad, True)
  with pytest.raises(ValueError, match="20 channels do not split into num_groups=32"):
    make_norm("group", True)(name="n").init(jax.random.key(0), jnp.ones((1, 2, 2, 20)))
  with pytest.raises(ValueError, match="MLP norm 'instance'"):
    MLP(norm="instance").init(jax.random.key(0), jnp.ones((1, 4)))


@pytest.mark.parametrize("kind", ["batch", "layer", "group"])
def test_mlp_norm(kind):
  model = MLP(hidden_sizes=(32,), norm=kind)
  variables = model.init(jax.random.key(0), jnp.ones((2, 8)))
  assert "norm_0" in variables["params"], f"{kind}: a norm after the hidden Dense"
  assert ("batch_stats" in variables) == (kind == "batch"), f"{kind}: only batch norm keeps running statistics"


@pytest.mark.parametrize("kind", ["layer", "instance", "group"])
def test_vgg_norm_same_count_as_batch_norm(kind):
  x = jnp.zeros((1, 32, 32, 3))
  count = lambda **kw: sum(np.prod(s.shape) for s in jax.tree.leaves(jax.eval_shape(
      lambda: archs.create_model("vgg11_bn", **kw).init(jax.random.key(0), x))["params"]))
  assert count(norm=kind) == count() == 132_868_840, f"vgg11_bn norm={kind}: one scale and bias per channel"
  model = archs.create_model("vgg11_bn", norm=kind, num_classes=10)
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
  assert "batch_stats" not in variables, f"{kind}: no running statistics"
