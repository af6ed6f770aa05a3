"""Anti-aliased downsampling (Zhang 2019, adobe/antialiased-cnns): low-pass with a binomial filter, then subsample."""
import math

import flax.linen as nn
import jax.lax as lax
import jax.numpy as jnp
import numpy as np

_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "zero": "constant"}  # reference names -> jnp.pad


def binomial_filter(size: int) -> np.ndarray:
  """The size x size outer product of the binomial row [C(size-1, k)], normalised to sum 1."""
  if size < 1:
    raise ValueError(f"blur filter size must be >= 1, got {size}")
  row = np.array([math.comb(size - 1, k) for k in range(size)], np.float64)
  filt = np.outer(row, row)
  return filt / filt.sum()


class BlurPool(nn.Module):
  """Depthwise binomial blur with stride; parameter-free. Padding left/top (f-1)//2, right/bottom ceil((f-1)/2),
  reflect by default as the reference, so the output is ceil(H / stride) for stride 2."""
  filter_size: int = 4
  stride: int = 2
  pad_mode: str = "reflect"

  @nn.compact
  def __call__(self, x):
    if self.pad_mode not in _PAD_MODES:
      raise ValueError(f"unknown BlurPool pad_mode {self.pad_mode!r}; accepted: {', '.join(_PAD_MODES)}")
    f = self.filter_size
    lo, hi = (f - 1) // 2, math.ceil((f - 1) / 2)
    x = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)), mode=_PAD_MODES[self.pad_mode])
    channels = x.shape[-1]
    kernel = np.tile(binomial_filter(f)[:, :, None, None], (1, 1, 1, channels))
    return lax.conv_general_dilated(
        x, jnp.asarray(kernel, x.dtype), (self.stride, self.stride), "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels)
