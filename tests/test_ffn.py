"""FeedForward variants equal their formulas: act(x W1 + b1) W2 + b2 and (Shazeer 2020) W2 (act(x W) * x V)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from archs.layers.ffn import FeedForward

_sigmoid = lambda z: 1 / (1 + np.exp(-z))
_gelu = lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2)))  # exact GELU (the project's default)

# kind -> (activation on x W, or None when ungated; for gated kinds the formula is act(x W) * (x V))
_FORMULAS = {
    "relu": lambda z: np.maximum(z, 0),
    "gelu": _gelu,
    "glu": _sigmoid,
    "swiglu": lambda z: z * _sigmoid(z),
    "geglu": _gelu,
}


def _params(kind, use_bias, d=6, hidden=5, out=None):
  ffn = FeedForward(hidden, out_dim=out, kind=kind, use_bias=use_bias)
  x = jnp.asarray(np.random.RandomState(0).randn(3, 4, d), jnp.float32)
  variables = ffn.init(jax.random.key(0), x)
  if use_bias:  # nonzero biases so that they are tested too
    variables = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(5), p.shape), variables)
  return ffn, x, variables


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kind", list(_FORMULAS))
def test_output_equals_formula(kind, use_bias):
  ffn, x, variables = _params(kind, use_bias)
  p = jax.tree.map(np.asarray, variables["params"])
  xn, hidden = np.asarray(x, np.float64), ffn.hidden_dim
  b = lambda name: p[name]["bias"] if use_bias else 0.0
  pre = xn @ p["wi"]["kernel"] + b("wi")
  act = _FORMULAS[kind]
  if kind == "glu":  # activations.glu(a, b) = a * sigmoid(b): a is x V, b is x W
    h = act(pre[..., hidden:]) * pre[..., :hidden]
  elif kind in ("swiglu", "geglu"):  # act(a) * b: a is x W, b is x V
    h = act(pre[..., :hidden]) * pre[..., hidden:]
  else:
    h = act(pre)
  want = h @ p["wo"]["kernel"] + b("wo")
  np.testing.assert_allclose(ffn.apply(variables, x), want, rtol=1e-5, atol=1e-5,
                             err_msg=f"FeedForward(kind={kind!r}) != its formula")


@pytest.mark.parametrize("kind,use_bias,out", [("relu", True, None), ("gelu", False, 7), ("glu", True, None),
                                               ("swiglu", False, None), ("geglu", True, 3)])
def test_param_count_equals_formula(kind, use_bias, out):
  d, h = 8, 12
  o = out or d
  inner = 2 * h if kind in ("glu", "swiglu", "geglu") else h
  want = d * inner + h * o + ((inner + o) if use_bias else 0)
  shapes = jax.eval_shape(FeedForward(h, out_dim=out, kind=kind, use_bias=use_bias).init, jax.random.key(0),
                          jnp.zeros((1, d)))
  got = sum(a.size for a in jax.tree.leaves(shapes["params"]))
  assert got == want, f"FeedForward({kind}, bias={use_bias}, out={out}): expected {want} params, got {got}"


def test_output_dim_and_dropout():
  ffn = FeedForward(16, out_dim=3, kind="swiglu", dropout_rate=0.5)
  x = jnp.ones((2, 5, 8))
  variables = ffn.init(jax.random.key(0), x)
  assert ffn.apply(variables, x).shape == (2, 5, 3), "out_dim must set the output feature size"
  a = ffn.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})
  b = ffn.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(a, b), "train=True must apply hidden dropout"


def test_unknown_kind_raises():
  with pytest.raises(ValueError, match="unknown FeedForward kind 'reglu'"):
    FeedForward(4, kind="reglu").init(jax.random.key(0), jnp.zeros((1, 4)))
