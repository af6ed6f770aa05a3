"""TNN: the FFT Toeplitz product equals the dense Toeplitz matrix, the TNO's decay, causality, the TnnLayer count."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.layers.toeplitz import Rpe, SkiTno, Tno, banded_product, interpolation_matrix, toeplitz_product
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


# ---------------------------------------------------------------- SKI (sparse + low-rank) operator
def test_ski_product_equals_the_dense_matrix_it_represents():
  """SkiTno's O(n) product (scatter-add, inducing kernel, gather, 1D convolution) == W K W^T x + S x, dense."""
  n, c = 23, 4
  ski = SkiTno(c, rpe_dim=8, rpe_layers=1, rank=6, band=2, decay=0.9)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, n, c))
  params = ski.init(jax.random.PRNGKey(1), x)["params"]
  params["band"] = jax.random.normal(jax.random.PRNGKey(2), params["band"].shape)  # a non-zero band
  w = interpolation_matrix(n, 6)
  np.testing.assert_allclose(w.sum(1), 1.0, err_msg="interpolation weights must sum to one per position")
  np.testing.assert_allclose(w @ np.linspace(0, n - 1, 6), np.arange(n), atol=1e-12,
                             err_msg="W interpolates the positions linearly")
  matrix = ski.apply({"params": params}, n, method=SkiTno.matrix)
  expected = np.einsum("ijc,bjc->bic", np.asarray(matrix, np.float64), np.asarray(x, np.float64))
  np.testing.assert_allclose(ski.apply({"params": params}, x), expected, atol=1e-4, rtol=1e-4)
  band = np.asarray(params["band"], np.float64)
  s = _dense_toeplitz(np.concatenate([band[2:], np.zeros((n - 3, c))]),
                      np.concatenate([band[:2][::-1], np.zeros((n - 3, c))]), n)
  np.testing.assert_allclose(banded_product(x, params["band"]), np.einsum("ijc,bjc->bic", s, x), atol=1e-5)


def test_ski_with_one_inducing_point_per_position_is_the_dense_tno():
  n, c = 11, 5
  tno = Tno(c, rpe_dim=8, rpe_layers=2, causal=False, decay=0.9)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, n, c))
  params = tno.init(jax.random.PRNGKey(1), x)["params"]
  ski = SkiTno(c, rpe_dim=8, rpe_layers=2, rank=n, band=0, decay=0.9)
  ski_params = {"rpe": params["rpe"], "band": jnp.zeros((1, c))}
  np.testing.assert_allclose(ski.apply({"params": ski_params}, x), tno.apply({"params": params}, x), atol=1e-4,
                             rtol=1e-4, err_msg="SKI with rank = n and no band must equal the FFT TNO")


def test_ski_low_rank_is_exact_for_an_affine_kernel():
  """Linear interpolation reproduces an affine kernel t(d) = a + b d exactly: W K W^T is then the Toeplitz T."""
  n, c = 17, 3
  ski = SkiTno(c, rpe_dim=4, rpe_layers=1, rank=5, band=0, decay=None)
  params = ski.init(jax.random.PRNGKey(0), jnp.zeros((1, n, c)))["params"]
  # The RPE MLP (with its norms) cannot be made affine by its weights: the inducing kernel is replaced instead.
  a, b = np.array([0.5, -1.0, 2.0]), np.array([0.3, 0.1, -0.2])
  kernel_fn = lambda module, n: jnp.asarray(
      a + b * (np.arange(5)[:, None, None] - np.arange(5)[None, :, None]) * (n - 1) / 4, jnp.float32)
  matrix = nn_intercept(ski, params, n, kernel_fn)
  d = np.arange(n)[:, None, None] - np.arange(n)[None, :, None]
  np.testing.assert_allclose(matrix, a + b * d, atol=1e-4, err_msg="SKI of an affine kernel must be exact")


def nn_intercept(ski, params, n, kernel_fn):
  """SkiTno.matrix with inducing_kernel replaced by kernel_fn (module, n) -> (r, r, c)."""
  import flax.linen as nn

  def replace(next_fun, args, kwargs, context):
    if context.method_name == "inducing_kernel":
      return kernel_fn(context.module, *args)
    return next_fun(*args, **kwargs)
  with nn.intercept_methods(replace):
    return np.asarray(ski.apply({"params": params}, n, method=SkiTno.matrix))


def test_ski_tnn_layer_runs_bidirectional_only():
  layer = TnnLayer(16, rpe_dim=8, rpe_layers=1, glu_dim=16, causal=False, toeplitz="ski", ski_rank=4, ski_band=1)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 12, 16))
  variables = layer.init(jax.random.PRNGKey(1), x)
  assert layer.apply(variables, x).shape == x.shape
  assert variables["params"]["token_mixer"]["toep"]["band"].shape == (3, 48)  # 2 * band + 1 by d1 = 3 * 16
  with pytest.raises(ValueError, match="bidirectional only"):
    TnnLayer(16, rpe_dim=8, glu_dim=16, causal=True, toeplitz="ski").init(jax.random.PRNGKey(1), x)
  with pytest.raises(ValueError, match="toeplitz='fast'; accepted: fft, ski"):
    TnnLayer(16, rpe_dim=8, glu_dim=16, toeplitz="fast").init(jax.random.PRNGKey(1), x)
