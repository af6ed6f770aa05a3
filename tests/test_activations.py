"""Every activation of archs/layers/activations.py against its defining formula, written independently in numpy,
and its gradient against the analytic derivative (or central differences), all in float64."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from archs.layers import activations as A

# Off the kinks at 0 so that one-sided definitions do not matter.
X = np.linspace(-6.0, 6.0, 121) + 0.0137


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


def np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def np_softplus(x, beta=1.0):
  return np.log(1.0 + np.exp(beta * x)) / beta


def np_phi(x):  # standard normal cdf, via erf
  return 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def np_gelu_tanh(x):  # Hendrycks & Gimpel's tanh approximation
  return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


# name -> (function under test, numpy definition)
FORMULAS = {
    "step": (A.step, lambda x: (x > 0).astype(np.float64)),
    "sigmoid": (A.sigmoid, np_sigmoid),
    "tanh": (A.tanh, np.tanh),
    "relu": (A.relu, lambda x: np.maximum(x, 0.0)),
    "leaky_relu": (A.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    "leaky_relu_0.2": (lambda x: A.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "softplus": (A.softplus, np_softplus),
    "softplus_beta2": (lambda x: A.softplus(x, beta=2.0), lambda x: np_softplus(x, 2.0)),
    "elu": (A.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1.0)),
    "elu_alpha1.5": (lambda x: A.elu(x, alpha=1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1.0))),
    "gelu": (A.gelu, lambda x: x * np_phi(x)),
    "gelu_exact_kw": (lambda x: A.gelu(x, approximate=False), lambda x: x * np_phi(x)),
    "gelu_approximate": (lambda x: A.gelu(x, approximate=True), np_gelu_tanh),
    "gelu_tanh": (A.gelu_tanh, np_gelu_tanh),
    "silu": (A.silu, lambda x: x * np_sigmoid(x)),
    "swish": (A.swish, lambda x: x * np_sigmoid(x)),
    "swish_beta1.7": (lambda x: A.swish(x, beta=1.7), lambda x: x * np_sigmoid(1.7 * x)),
    "mish": (A.mish, lambda x: x * np.tanh(np.log(1.0 + np.exp(x)))),
    "identity": (A.identity, lambda x: x),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_matches_defining_formula(name):
  fn, ref = FORMULAS[name]
  got = np.asarray(fn(jnp.asarray(X)))
  assert got.dtype == np.float64, f"{name}: expected float64 output under x64, got {got.dtype}"
  np.testing.assert_allclose(got, ref(X), rtol=1e-12, atol=1e-12, err_msg=f"{name} differs from its definition")


def test_gelu_is_exact_by_default_and_differs_from_tanh_form():
  # PyTorch's nn.GELU default is the erf form; the two differ by up to ~5e-4.
  gap = np.max(np.abs(np.asarray(A.gelu(jnp.asarray(X))) - np_gelu_tanh(X)))
  assert 1e-5 < gap < 1e-3, f"expected exact GELU to differ from the tanh form by ~1e-4, got {gap}"


def test_softplus_is_stable_for_large_inputs():
  got = np.asarray(A.softplus(jnp.asarray([-800.0, 800.0])))
  np.testing.assert_allclose(got, [0.0, 800.0], atol=1e-12, err_msg="softplus must not overflow")


# name -> (function, analytic derivative in numpy)
DERIVATIVES = {
    "step": (A.step, lambda x: np.zeros_like(x)),
    "sigmoid": (A.sigmoid, lambda x: np_sigmoid(x) * (1.0 - np_sigmoid(x))),
    "tanh": (A.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "relu": (A.relu, lambda x: (x > 0).astype(np.float64)),  # relu' = step
    "leaky_relu": (A.leaky_relu, lambda x: np.where(x > 0, 1.0, 0.01)),
    "softplus": (A.softplus, np_sigmoid),  # softplus' = sigmoid
    "softplus_beta2": (lambda x: A.softplus(x, beta=2.0), lambda x: np_sigmoid(2.0 * x)),
    "elu": (A.elu, lambda x: np.where(x > 0, 1.0, np.exp(x))),
    "gelu": (A.gelu, lambda x: np_phi(x) + x * np.exp(-x**2 / 2) / math.sqrt(2 * math.pi)),
    "silu": (A.silu, lambda x: np_sigmoid(x) * (1.0 + x * (1.0 - np_sigmoid(x)))),
    "swish_beta1.7": (lambda x: A.swish(x, beta=1.7),
                      lambda x: np_sigmoid(1.7 * x) + 1.7 * x * np_sigmoid(1.7 * x) * (1 - np_sigmoid(1.7 * x))),
    # Mish' = tanh(sp(x)) + x sech^2(sp(x)) sigmoid(x)
    "mish": (A.mish, lambda x: np.tanh(np_softplus(x)) + x * (1 - np.tanh(np_softplus(x)) ** 2) * np_sigmoid(x)),
    "identity": (A.identity, np.ones_like),
}


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_gradient_matches_analytic_derivative(name):
  fn, deriv = DERIVATIVES[name]
  got = np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(X)))
  np.testing.assert_allclose(got, deriv(X), rtol=1e-10, atol=1e-12, err_msg=f"d/dx {name} is not its derivative")


@pytest.mark.parametrize("name", ["gelu_tanh", "gelu_approximate", "swish", "elu_alpha1.5", "leaky_relu_0.2"])
def test_gradient_matches_central_differences(name):
  fn, ref = FORMULAS[name]
  h = 1e-6
  fd = (ref(X + h) - ref(X - h)) / (2 * h)
  got = np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(X)))
  np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8, err_msg=f"d/dx {name} differs from central differences")


def _halves(x):
  return x[..., :3], x[..., 3:]


GATED = {
    # torch.nn.functional.glu convention: first half times sigmoid of the second.
    "glu": (A.glu, lambda a, b: a * np_sigmoid(b)),
    "swiglu": (A.swiglu, lambda a, b: a * np_sigmoid(a) * b),
    "geglu": (A.geglu, lambda a, b: a * np_phi(a) * b),
}


@pytest.mark.parametrize("name", sorted(GATED))
def test_gated_units_split_halves_in_documented_order(name):
  fn, ref = GATED[name]
  x = np.random.default_rng(0).normal(size=(2, 5, 6))
  got = np.asarray(fn(jnp.asarray(x)))
  assert got.shape == (2, 5, 3), f"{name}: expected the last axis halved to (2, 5, 3), got {got.shape}"
  np.testing.assert_allclose(got, ref(*_halves(x)), rtol=1e-12, atol=1e-12, err_msg=f"{name} halves or gate order")
  # Swapping the halves changes the result: the order is part of the definition.
  swapped = np.asarray(fn(jnp.asarray(np.concatenate(_halves(x)[::-1], axis=-1))))
  assert not np.allclose(swapped, got), f"{name} should not be symmetric in its two halves"


@pytest.mark.parametrize("name", sorted(GATED))
def test_gated_units_split_along_given_axis(name):
  fn, ref = GATED[name]
  x = np.random.default_rng(1).normal(size=(6, 4))
  got = np.asarray(fn(jnp.asarray(x), axis=0))
  assert got.shape == (3, 4), f"{name}: expected axis 0 halved to (3, 4), got {got.shape}"
  np.testing.assert_allclose(got, ref(x[:3], x[3:]), rtol=1e-12, atol=1e-12, err_msg=f"{name} with axis=0")


def test_geglu_approximate_uses_tanh_gelu():
  x = np.random.default_rng(2).normal(size=(4, 6))
  a, b = _halves(x)
  got = np.asarray(A.geglu(jnp.asarray(x), approximate=True))
  np.testing.assert_allclose(got, np_gelu_tanh(a) * b, rtol=1e-12, atol=1e-12, err_msg="GEGLU tanh form")


def test_gated_unit_gradients_match_central_differences():
  x = np.random.default_rng(3).normal(size=(6,))
  for name, (fn, ref) in GATED.items():
    got = np.asarray(jax.grad(lambda v: jnp.sum(fn(v)))(jnp.asarray(x)))
    h = 1e-6
    fd = np.array([(ref(*_halves(x + h * e)).sum() - ref(*_halves(x - h * e)).sum()) / (2 * h) for e in np.eye(6)])
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8, err_msg=f"gradient of {name}")


def test_prelu_channelwise_slopes_and_gradient():
  x = np.random.default_rng(4).normal(size=(2, 3, 4))
  module = A.PReLU()
  variables = module.init(jax.random.key(0), jnp.asarray(x))
  slope = variables["params"]["slope"]
  assert slope.shape == (4,), f"expected one slope per channel (4,), got {slope.shape}"
  np.testing.assert_allclose(slope, 0.25, err_msg="PReLU slopes initialise to 0.25 (He et al. 2015)")
  slopes = np.array([0.1, -0.3, 0.5, 2.0])
  out = np.asarray(module.apply({"params": {"slope": jnp.asarray(slopes)}}, jnp.asarray(x)))
  np.testing.assert_allclose(out, np.where(x > 0, x, slopes * x), rtol=1e-12, err_msg="PReLU = max(0,x) + a min(0,x)")
  # dy/da_c = sum of the negative inputs of channel c.
  grad = jax.grad(lambda p: jnp.sum(module.apply({"params": p}, jnp.asarray(x))))({"slope": jnp.asarray(slopes)})
  np.testing.assert_allclose(grad["slope"], np.minimum(x, 0).sum(axis=(0, 1)), rtol=1e-12, err_msg="dPReLU/da")


def test_prelu_shared_slope():
  x = np.random.default_rng(5).normal(size=(3, 4))
  module = A.PReLU(channelwise=False, init_slope=0.1)
  variables = module.init(jax.random.key(0), jnp.asarray(x))
  assert variables["params"]["slope"].shape == (), "channelwise=False keeps a single scalar slope"
  a = float(np.float32(0.1))  # parameters are float32 even under x64
  np.testing.assert_allclose(module.apply(variables, jnp.asarray(x)), np.where(x > 0, x, a * x), rtol=1e-12,
                             err_msg="shared-slope PReLU")


def test_swish_module_learns_beta():
  x = np.random.default_rng(6).normal(size=(5, 3))
  module = A.Swish(init_beta=1.0)
  variables = module.init(jax.random.key(0), jnp.asarray(x))
  assert variables["params"]["beta"].shape == (), "Swish has one scalar beta"
  beta = 1.7
  params = {"beta": jnp.asarray(beta)}
  out = np.asarray(module.apply({"params": params}, jnp.asarray(x)))
  np.testing.assert_allclose(out, x * np_sigmoid(beta * x), rtol=1e-12, err_msg="Swish = x sigmoid(beta x)")
  # d/dbeta x s(beta x) = x^2 s (1 - s)
  s = np_sigmoid(beta * x)
  grad = jax.grad(lambda p: jnp.sum(module.apply({"params": p}, jnp.asarray(x))))(params)
  np.testing.assert_allclose(grad["beta"], np.sum(x**2 * s * (1 - s)), rtol=1e-10, err_msg="dSwish/dbeta")


def test_registry_has_every_function_and_rejects_unknown_names():
  for name in ["step", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "gelu", "gelu_tanh", "silu",
               "swish", "mish", "glu", "swiglu", "geglu", "identity"]:
    assert A.get_activation(name) is getattr(A, name), f"get_activation({name!r}) should return A.{name}"
  with pytest.raises(ValueError, match="unknown activation 'relu6x'"):
    A.get_activation("relu6x")


def test_step_preserves_dtype():
  assert A.step(jnp.ones(3, jnp.bfloat16)).dtype == jnp.bfloat16, "step keeps the input dtype"
