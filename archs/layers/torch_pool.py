"""Pooling with PyTorch's semantics: ceil-mode max pooling and adaptive average pooling (NHWC)."""
import math

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


def _pool_out_size(size: int, window: int, stride: int, padding: int, ceil_mode: bool) -> int:
  span = size + 2 * padding - window
  if span < 0:
    raise ValueError(f"pool window {window} is larger than the padded input {size + 2 * padding}")
  out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
  if ceil_mode and (out - 1) * stride >= size + padding:  # torch: the last window must start inside the input
    out -= 1
  return out


def max_pool(x, window: int, stride: int, padding: int = 0, ceil_mode: bool = False):
  """torch.nn.MaxPool2d(window, stride, padding, ceil_mode) on NHWC input (pads with -inf)."""
  pads = []
  for size in x.shape[1:3]:
    out = _pool_out_size(size, window, stride, padding, ceil_mode)
    extra = max(0, (out - 1) * stride + window - size - 2 * padding)
    pads.append((padding, padding + extra))
  return nn.max_pool(x, (window, window), (stride, stride), padding=pads)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
  # torch bins: [floor(i * size / out), ceil((i + 1) * size / out)).
  m = np.zeros((out, size), np.float32)
  for i in range(out):
    lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
    m[i, lo:hi] = 1.0 / (hi - lo)
  return m


def adaptive_avg_pool(x, output_size: int | tuple[int, int]):
  """torch.nn.AdaptiveAvgPool2d(output_size) on NHWC input (also upsamples, e.g. VGG's 1x1 -> 7x7)."""
  oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
  h, w = x.shape[1:3]
  if (h, w) == (oh, ow):
    return x
  ph = jnp.asarray(_adaptive_matrix(h, oh), x.dtype)
  pw = jnp.asarray(_adaptive_matrix(w, ow), x.dtype)
  return jnp.einsum("oh,bhwc,pw->bopc", ph, x, pw)
