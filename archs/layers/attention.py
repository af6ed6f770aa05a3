"""Scaled dot-product and multi-head attention (Vaswani et al. 2017, Sec. 3.2), shared by every attention user.

Masks are boolean, True where a query may attend to a key, broadcastable to (batch, heads, q_len, kv_len).
Decoding with a key/value cache follows Flax's `decode=True` convention: `init` with the full-length input creates
the 'cache' collection (its length is the maximum decode length); each `apply(..., mutable=['cache'])` then feeds
the next chunk of queries (usually one token), appends its keys and values, and attends causally to the prefix.
Cross-attention (`static_kv=True`) caches the projected keys/values of the call that passes `inputs_kv` and reuses
them on calls without it, so the encoder output is projected once per source, not once per step.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def causal_mask(length: int):
  """(1, 1, L, L): query i attends to keys j <= i (the decoder's masked self-attention, Sec. 3.2.3)."""
  return jnp.tril(jnp.ones((length, length), jnp.bool_))[None, None]


def padding_mask(kv_tokens, pad_id: int | None = 0):
  """(B, 1, 1, Lk): keys that are not padding; None when pad_id is None (no masking)."""
  if pad_id is None:
    return None
  return (kv_tokens != pad_id)[:, None, None, :]


def combine_masks(*masks):
  """Logical AND of the masks that are not None (None if all are)."""
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  out = masks[0]
  for m in masks[1:]:
    out = jnp.logical_and(out, m)
  return out


def attention_weights(query, key, mask=None, bias=None):
  """softmax(Q K^T / sqrt(d_k) + bias, masked) in float32: (B, H, Lq, Lk), each row summing to 1.

  The softmax runs in float32 (stable in bfloat16); masked logits get the float32 minimum, so a fully masked
  row averages uniformly.
  """
  logits = jnp.einsum("bqhd,bkhd->bhqk", query, key).astype(jnp.float32) / math.sqrt(query.shape[-1])
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  return jax.nn.softmax(logits, axis=-1)


def dot_product_attention(query, key, value, mask=None, bias=None, dropout_rate: float = 0.0,
                          dropout_rng=None, deterministic: bool = True, dtype=None, weights_out=None):
  """softmax(Q K^T / sqrt(d_k) + bias, masked) V (Eq. 1) for every head.

  query (B, Lq, H, Dk), key (B, Lk, H, Dk), value (B, Lk, H, Dv) -> (B, Lq, H, Dv). `weights_out`, if given, is
  called with the attention weights (B, H, Lq, Lk) before dropout (to record attention maps).
  """
  if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
    raise ValueError(f"query/key/value must be (batch, length, heads, depth); got shapes "
                     f"{query.shape}, {key.shape}, {value.shape}")
  dtype = dtype or query.dtype
  weights = attention_weights(query, key, mask, bias)
  if weights_out is not None:
    weights_out(weights)
  if not deterministic and dropout_rate > 0.0:
    keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, weights.shape)
    weights = jnp.where(keep, weights / (1.0 - dropout_rate), 0.0)
  return jnp.einsum("bhqk,bkhd->bqhd", weights.astype(dtype), value.astype(dtype))


class MultiHeadAttention(nn.Module):
  """MultiHead(Q, K, V) = Concat(head_1..head_h) W^O with head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V) (Sec. 3.2.2).

  Self-attention: `attn(x, mask=...)`; cross-attention: `attn(x, memory, mask=...)`. Parameters: four (d x d)
  projections with biases (`use_bias`), i.e. 4 (d_in d + d) for d = qkv_features = d_in.
  `decode=True` keeps keys/values in the 'cache' collection (see the module docstring): appended per step for
  self-attention; for cross-attention (`static_kv=True`) projected from `inputs_kv` once and reused when it is None.
  `bias` (broadcastable to (B, H, Lq, Lk)) is added to the logits (Swin's relative position bias). Outside `init`,
  the attention weights (B, H, Lq, Lk) are sown as 'intermediates'/'attention_weights': apply with
  `mutable=['intermediates']` to read the attention maps; otherwise nothing is stored.
  """
  num_heads: int
  qkv_features: int | None = None  # default: the query's feature size
  out_features: int | None = None  # default: the query's feature size
  use_bias: bool = True
  dropout_rate: float = 0.0  # on the attention weights
  decode: bool = False
  static_kv: bool = False  # decode=True only: the keys/values of inputs_kv are cached once (cross-attention)
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.initializers.xavier_uniform()

  @nn.compact
  def __call__(self, inputs_q, inputs_kv=None, mask=None, train: bool = False, bias=None):
    features = self.qkv_features or inputs_q.shape[-1]
    if features % self.num_heads:
      raise ValueError(f"qkv_features={features} must be divisible by num_heads={self.num_heads}")
    if self.decode and inputs_kv is not None and not self.static_kv:
      raise ValueError("decode=True with inputs_kv (cross-attention) needs static_kv=True")
    head_dim = features // self.num_heads
    proj = lambda name: nn.DenseGeneral((self.num_heads, head_dim), use_bias=self.use_bias, dtype=self.dtype,
                                        kernel_init=self.kernel_init, name=name)
    query = proj("query")(inputs_q)
    if self.decode and self.static_kv:
      key, value = self._static_kv(proj, inputs_kv)
    else:
      inputs_kv = inputs_q if inputs_kv is None else inputs_kv
      key, value = proj("key")(inputs_kv), proj("value")(inputs_kv)
      if self.decode:
        key, value, mask = self._extend_cache(key, value, mask)

    dropout_rng = self.make_rng("dropout") if train and self.dropout_rate > 0.0 else None
    record = None if self.is_initializing() else lambda w: self.sow("intermediates", "attention_weights", w)
    out = dot_product_attention(query, key, value, mask=mask, bias=bias, dropout_rate=self.dropout_rate,
                                dropout_rng=dropout_rng, deterministic=not train, dtype=self.dtype,
                                weights_out=record)
    return nn.DenseGeneral(self.out_features or inputs_q.shape[-1], axis=(-2, -1), use_bias=self.use_bias,
                           dtype=self.dtype, kernel_init=self.kernel_init, name="out")(out)

  def _extend_cache(self, key, value, mask):
    """Writes this chunk's keys/values at the cache index; the chunk attends to the prefix and causally to itself."""
    initialized = self.has_variable("cache", "cached_key")
    cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
    cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
    cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
    if not initialized:  # the init call: shapes only, the full-length input is processed as is
      return key, value, mask
    max_len, chunk = cached_key.value.shape[1], key.shape[1]
    index = cache_index.value
    key = lax.dynamic_update_slice(cached_key.value, key.astype(cached_key.value.dtype), (0, index, 0, 0))
    value = lax.dynamic_update_slice(cached_value.value, value.astype(cached_value.value.dtype), (0, index, 0, 0))
    cached_key.value, cached_value.value, cache_index.value = key, value, index + chunk
    prefix = jnp.arange(max_len)[None, :] <= index + jnp.arange(chunk)[:, None]
    return key, value, combine_masks(mask, prefix[None, None])

  def _static_kv(self, proj, inputs_kv):
    """Cross-attention keys/values: projected from inputs_kv and cached when it is given, read back when it is None."""
    if inputs_kv is None:
      if not self.has_variable("cache", "memory_key"):
        raise ValueError("static_kv: inputs_kv is None but the cache holds no keys/values; pass inputs_kv first")
      return self.get_variable("cache", "memory_key"), self.get_variable("cache", "memory_value")
    key, value = proj("key")(inputs_kv), proj("value")(inputs_kv)
    if self.is_mutable_collection("cache"):
      self.put_variable("cache", "memory_key", key)
      self.put_variable("cache", "memory_value", value)
    return key, value
