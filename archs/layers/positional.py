"""Positional encodings of the Transformer (Vaswani et al. 2017, Sec. 3.5): sinusoidal (fixed) and learned.

`PositionalEncoding` adds them to embeddings (B, L, D). With `decode=True` it keeps the next position in the
'cache' collection, so that feeding one token at a time gives the same encodings as the full sequence.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
from jax import lax


def sinusoidal_encoding(positions, dim: int, max_timescale: float = 10000.0):
  """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)): interleaved as in the paper
  (tensor2tensor concatenates the sin and cos halves instead). positions (..., L) -> (..., L, dim), float32."""
  if dim % 2:
    raise ValueError(f"sinusoidal encoding needs an even dim; got {dim}")
  inv_timescale = max_timescale ** (-jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)
  angles = jnp.asarray(positions, jnp.float32)[..., None] * inv_timescale
  return jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(*angles.shape[:-1], dim)


class PositionalEncoding(nn.Module):
  """x + PE(positions). kind: 'sinusoidal' (no parameters, any length) or 'learned' (a (max_len, D) table,
  normal(0.02) init). Positions start at 0, or at the cache index when decoding."""
  kind: str = "sinusoidal"
  max_len: int = 512  # learned only
  decode: bool = False

  @nn.compact
  def __call__(self, x):
    if self.kind not in ("sinusoidal", "learned"):
      raise ValueError(f"unknown positional encoding {self.kind!r}; accepted: 'sinusoidal', 'learned'")
    length, dim = x.shape[-2], x.shape[-1]
    start = 0
    if self.decode:
      initialized = self.has_variable("cache", "position")
      position = self.variable("cache", "position", lambda: jnp.array(0, jnp.int32))
      if initialized:
        start = position.value
        position.value = start + length
    if self.kind == "sinusoidal":
      pe = sinusoidal_encoding(start + jnp.arange(length), dim)
    else:
      if length > self.max_len:
        raise ValueError(f"sequence length {length} exceeds the learned positional table max_len={self.max_len}")
      table = self.param("embedding", nn.initializers.normal(0.02), (self.max_len, dim), jnp.float32)
      pe = lax.dynamic_slice_in_dim(table, start, length, axis=0)
    return x + pe.astype(x.dtype)
