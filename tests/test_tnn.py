"""TNN: the FFT Toeplitz product equals the dense Toeplitz matrix, the TNO's decay, causality, the TnnLayer count."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.layers.toeplitz import Rpe, Tno, toeplitz_product
from archs.tnn import TnnLayer

VOCAB = 29


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _dense_toeplitz(t_nonneg, t_neg, n):
  """(n, n, c) matrix T_ij = t_{i-j}, built entry by entry."""
  def t(k):
    if k >= 0:
      return t_nonneg[k]
    return np.zeros_like(t_nonneg[0]) if t_neg is None else t_neg[-k - 1]
  return np.array([[t(i - j) for j in range(n)] for i in range(n)])


@pytest.mark.parametrize("n", [1, 2, 7, 16, 33])
@pytest.mark.parametrize("causal", [True, False])
def test_fft_product_equals_dense_toeplitz(n, causal):
  rng = np.random.default_rng(n)
  x = rng.normal(size=(2, n, 3))
  t_nonneg, t_neg = rng.normal(size=(n, 3)), rng.normal(size=(n - 1, 3))
  t_neg = None if causal else t_neg
  expected = np.einsum("ijc,bjc->bic", _dense_toeplitz(t_nonneg, t_neg, n), x)
  f32 = lambda a: None if a is None else jnp.asarray(a, jnp.float32)
  out = toeplitz_product(f32(x), f32(t_nonneg), f32(t_neg))
  np.testing.assert_allclose(out, expected, atol=1e-5 * n, rtol=1e-4,
                             err_msg=f"FFT Toeplitz product != dense T x (n={n}, causal={causal})")


@pytest.mark.parametrize("causal", [True, False])
def test_tno_is_the_decayed_rpe_toeplitz(causal):
  n, c, decay = 9, 6, 0.9
  tno = Tno(c, rpe_dim=8, rpe_layers=2, causal=causal, decay=decay)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, n, c))
  params = tno.init(jax.random.PRNGKey(1), x)["params"]
  k = np.arange(n, dtype=np.float32)
  rpe = Rpe(8, c, 2)
  pos = np.asarray(rpe.apply({"params": params["rpe"]}, jnp.asarray(k)), np.float64) * decay ** k[:, None]
  neg = np.asarray(rpe.apply({"params": params["rpe"]}, jnp.asarray(-k[1:])), np.float64) * decay ** k[1:, None]
  expected = np.einsum("ijc,bjc->bic", _dense_toeplitz(pos, None if causal else neg, n), np.asarray(x, np.float64))
  np.testing.assert_allclose(tno.apply({"params": params}, x), expected, atol=1e-4, rtol=1e-4,
                             err_msg="TNO != dense Toeplitz of t_k = decay^|k| RPE(k)")


def test_tnn_layer_count_and_fixed_decay_not_trainable():
  layer = TnnLayer(512, num_heads=1, rpe_dim=64, rpe_layers=6, glu_dim=512)
  variables = jax.eval_shape(layer.init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 512)))
  assert set(variables) == {"params"}, f"expected only a 'params' collection, got {set(variables)}"
  assert _count(variables["params"]) == 3_275_776, f"expected 3,275,776, got {_count(variables['params']):,}"
  names = {"/".join(str(getattr(p, "key", p)) for p in path)
           for path, _ in jax.tree_util.tree_leaves_with_path(variables["params"])}
  assert not any("decay" in n or "gamma" in n for n in names), f"the fixed decay must not be a parameter: {names}"


@pytest.fixture(scope="module")
def tiny():
  model = archs.create_model("tnn_tiny", vocab_size=VOCAB)
  tokens = jax.random.randint(jax.random.PRNGKey(0), (2, 12), 0, VOCAB)
  return model, model.init(jax.random.PRNGKey(1), tokens), tokens


def test_lm_logits_shape(tiny):
  model, variables, tokens = tiny
  logits = model.apply(variables, tokens)
  assert logits.shape == (2, 12, VOCAB) and logits.dtype == jnp.float32, f"expected (2, 12, {VOCAB}) float32"


def test_lm_is_causal(tiny):
  model, variables, tokens = tiny
  changed = tokens.at[:, 6:].set((tokens[:, 6:] + 1) % VOCAB)
  a, b = model.apply(variables, tokens), model.apply(variables, changed)
  # The FFT mixes every position with rounding noise (~1e-6); causal influence would be O(1).
  np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-4, rtol=0,
                             err_msg="changing future tokens changed earlier logits")
  assert float(jnp.abs(a[:, 6:] - b[:, 6:]).max()) > 1e-2, "changed tokens must change their own logits"


def test_bidirectional_sees_the_future():
  model = archs.create_model("tnn_tiny", vocab_size=VOCAB, causal=False)
  tokens = jnp.arange(10, dtype=jnp.int32)[None] % VOCAB
  variables = model.init(jax.random.PRNGKey(1), tokens)
  a, b = model.apply(variables, tokens), model.apply(variables, tokens.at[:, 6:].set(0))
  assert float(jnp.abs(a[:, :6] - b[:, :6]).max()) > 1e-3, "the bidirectional TNO must see later tokens"


def test_tnn_base_count():
  model = archs.create_model("tnn_base", vocab_size=1000)
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 4), jnp.int32))["params"]
  body = _count({k: v for k, v in params.items() if k not in ("embed", "head")})
  assert body == 6 * 3_275_776, f"tnn_base = 6 oracle TnnLayers: expected {6 * 3_275_776:,}, got {body:,}"
