"""Attention equals softmax(Q K^T / sqrt(d) + mask) V written in numpy; the key/value cache equals full attention."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs.layers.attention import (MultiHeadAttention, causal_mask, combine_masks, dot_product_attention,
                                    padding_mask)


def _softmax(x):
  x = x - x.max(-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(-1, keepdims=True)


def _reference_attention(q, k, v, mask=None):
  """q (B, Lq, H, D), k/v (B, Lk, H, D), mask broadcastable to (B, H, Lq, Lk): Eq. 1 of the paper per head."""
  logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])
  if mask is not None:
    logits = np.where(mask, logits, -1e30)
  return np.einsum("bhqk,bkhd->bqhd", _softmax(logits), v)


def _reference_mha(params, x_q, x_kv, mask=None):
  proj = lambda p, x: np.einsum("bld,dhk->blhk", x, np.asarray(p["kernel"])) + np.asarray(p["bias"])
  heads = _reference_attention(proj(params["query"], x_q), proj(params["key"], x_kv), proj(params["value"], x_kv), mask)
  return np.einsum("blhk,hko->blo", heads, np.asarray(params["out"]["kernel"])) + np.asarray(params["out"]["bias"])


def test_dot_product_attention_equals_dense_reference():
  rng = np.random.RandomState(0)
  q, k, v = (rng.randn(2, n, 3, 8).astype(np.float32) for n in (5, 7, 7))
  mask = rng.rand(2, 3, 5, 7) > 0.4
  mask[..., 0] = True  # every query sees at least one key
  got = dot_product_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), mask=jnp.asarray(mask))
  np.testing.assert_allclose(got, _reference_attention(q, k, v, mask), rtol=1e-5, atol=1e-5,
                             err_msg="dot_product_attention != numpy softmax(QK^T/sqrt(d) + mask) V")


@pytest.mark.parametrize("cross", [False, True])
def test_multi_head_attention_equals_dense_reference(cross):
  rng = np.random.RandomState(1)
  x_q = rng.randn(2, 5, 16).astype(np.float32)
  x_kv = rng.randn(2, 9, 16).astype(np.float32) if cross else x_q
  tokens = np.array([[4, 5, 6, 7, 8, 9, 3, 0, 0], [1, 2, 3, 0, 0, 0, 0, 0, 0]])[:, :x_kv.shape[1]]
  mask = padding_mask(jnp.asarray(tokens), pad_id=0)
  if not cross:
    mask = combine_masks(mask, causal_mask(5))
  attn = MultiHeadAttention(num_heads=4)
  args = (jnp.asarray(x_q), jnp.asarray(x_kv) if cross else None)
  variables = attn.init(jax.random.key(0), *args, mask=mask)
  got = attn.apply(variables, *args, mask=mask)
  want = _reference_mha(variables["params"], x_q, x_kv, np.asarray(mask))
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg="MultiHeadAttention != numpy reference")


def test_param_count_is_four_projections():
  d, heads = 24, 4
  shapes = jax.eval_shape(MultiHeadAttention(heads).init, jax.random.key(0), jnp.zeros((1, 3, d)))
  count = sum(x.size for x in jax.tree.leaves(shapes["params"]))
  assert count == 4 * (d * d + d), f"expected 4 (d^2 + d) = {4 * (d * d + d)} parameters, got {count}"


def test_masks():
  np.testing.assert_array_equal(causal_mask(4)[0, 0], np.tril(np.ones((4, 4), bool)),
                                err_msg="causal mask must allow key j <= query i")
  pad = padding_mask(jnp.array([[5, 0, 7]]), pad_id=0)
  assert pad.shape == (1, 1, 1, 3), f"expected (B, 1, 1, Lk), got {pad.shape}"
  np.testing.assert_array_equal(pad[0, 0, 0], [True, False, True], err_msg="pad id 0 must be masked")
  assert padding_mask(jnp.array([[5, 0]]), pad_id=None) is None, "pad_id=None means no mask"
  assert combine_masks(None, None) is None


def test_kv_cache_equals_full_causal_attention():
  """One token per step, then a chunk of 3, through the cache == causal attention over the whole sequence."""
  x = jnp.asarray(np.random.RandomState(2).randn(2, 8, 16), jnp.float32)
  attn = MultiHeadAttention(num_heads=4)
  params = attn.init(jax.random.key(0), x)["params"]
  full = attn.apply({"params": params}, x, mask=causal_mask(8))

  cached = MultiHeadAttention(num_heads=4, decode=True)
  cache = cached.init(jax.random.key(0), x)["cache"]
  cache = jax.tree.map(jnp.zeros_like, cache)
  outs = []
  for start, stop in [(0, 1), (1, 2), (2, 5), (5, 6), (6, 7), (7, 8)]:
    out, updates = cached.apply({"params": params, "cache": cache}, x[:, start:stop], mutable=["cache"])
    cache = updates["cache"]
    outs.append(out)
  np.testing.assert_allclose(jnp.concatenate(outs, axis=1), full, rtol=1e-5, atol=1e-5,
                             err_msg="cached decoding must equal full causal attention")
  assert int(cache["cache_index"]) == 8, f"cache index should count 8 tokens, got {int(cache['cache_index'])}"


def test_attention_dropout_only_in_train():
  x = jnp.asarray(np.random.RandomState(3).randn(2, 6, 16), jnp.float32)
  attn = MultiHeadAttention(num_heads=2, dropout_rate=0.5)
  variables = attn.init(jax.random.key(0), x)
  eval_out = attn.apply(variables, x)
  train_a = attn.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1)})
  train_b = attn.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(train_a, train_b), "different dropout keys must give different train outputs"
  np.testing.assert_allclose(eval_out, attn.apply(variables, x), err_msg="eval must be deterministic")
  assert not np.allclose(train_a, eval_out), "train=True must apply attention dropout"


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="divisible"):
    MultiHeadAttention(num_heads=5).init(jax.random.key(0), jnp.zeros((1, 2, 16)))
  with pytest.raises(ValueError, match="cross-attention"):
    MultiHeadAttention(num_heads=2, decode=True).init(jax.random.key(0), jnp.zeros((1, 2, 16)), jnp.zeros((1, 3, 16)))
