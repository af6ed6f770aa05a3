"""ConvNeXt (Liu et al. 2022; facebookresearch/ConvNeXt models/convnext.py)."""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import gelu
from archs.layers.drop_path import DropPath
from archs.layers.features import classifier_output
from archs.layers.series_activation import DepthwiseConv
from archs.registry import register_model

# timm's trunc_normal_(std=.02) truncates at +-2 absolute, i.e. ~100 sigma: an untruncated normal in practice.
weight_init = nn.initializers.normal(0.02)
LayerNorm = functools.partial(nn.LayerNorm, epsilon=1e-6)  # over the channel axis, which is last in NHWC


class ConvNeXtBlock(nn.Module):
  """x + DropPath(gamma * Dense(GELU(Dense4d(LN(dwconv7x7(x)))))); params 8 d^2 + 58 d."""
  drop_path_rate: float = 0.0
  layer_scale_init_value: float = 1e-6
  dtype: Any = jnp.float32
  dwconv: str = "conv"

  @nn.compact
  def __call__(self, x, train: bool = False):
    dim = x.shape[-1]
    dense = functools.partial(nn.Dense, dtype=self.dtype, kernel_init=weight_init)
    # nn.Conv's depthwise kernel and bias, as a grouped conv or a shifted sum (see ConvNeXt.dwconv).
    y = DepthwiseConv(7, use_bias=True, implementation=self.dwconv, dtype=self.dtype, name="dwconv")(x)
    y = LayerNorm(dtype=self.dtype, name="norm")(y)
    y = gelu(dense(4 * dim, name="pwconv1")(y))  # exact erf GELU as torch.nn.GELU
    y = dense(dim, name="pwconv2")(y)
    if self.layer_scale_init_value > 0:
      gamma = self.param("gamma", nn.initializers.constant(self.layer_scale_init_value), (dim,), jnp.float32)
      y = y * gamma.astype(y.dtype)
    return x + DropPath(self.drop_path_rate, name="drop_path")(y, train)


class ConvNeXt(nn.Module):
  """Stem conv4x4/4 + LN; 4 stages, each after the first opened by LN + conv2x2/2; head mean -> LN -> Dense.

  Drop-path rates grow linearly from 0 to drop_path_rate over all blocks. The head's weight and bias are
  multiplied by head_init_scale at init (1.0; the reference fine-tunes with 0.001).
  dwconv: the 7x7 depthwise conv as a grouped "conv" (default) or "shifts" (49 shifted products, same numbers):
  on XLA:CPU shifts train ~3x faster but compile ~5x slower (BENCHMARKS.md); "auto" = shifts on CPU only.
  """
  depths: Sequence[int] = (3, 3, 9, 3)
  dims: Sequence[int] = (96, 192, 384, 768)
  num_classes: int = 1000
  drop_path_rate: float = 0.0
  layer_scale_init_value: float = 1e-6
  head_init_scale: float = 1.0
  dtype: Any = jnp.float32
  dwconv: str = "conv"

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if len(self.depths) != len(self.dims):
      raise ValueError(f"ConvNeXt needs one dim per stage, got depths {self.depths} and dims {self.dims}")
    conv = functools.partial(nn.Conv, padding=0, dtype=self.dtype, kernel_init=weight_init)
    rates = np.linspace(0.0, self.drop_path_rate, sum(self.depths)).tolist()
    stages = []
    for i, (depth, dim) in enumerate(zip(self.depths, self.dims)):
      if i == 0:
        x = conv(dim, (4, 4), 4, name="stem_conv")(x)
        x = LayerNorm(dtype=self.dtype, name="stem_norm")(x)
      else:
        x = LayerNorm(dtype=self.dtype, name=f"downsample{i}_norm")(x)
        x = conv(dim, (2, 2), 2, name=f"downsample{i}_conv")(x)
      for j in range(depth):
        x = ConvNeXtBlock(rates.pop(0), self.layer_scale_init_value, self.dtype, self.dwconv,
                          name=f"stage{i}_block{j}")(x, train)
      stages.append(x)

    pre_logits = LayerNorm(dtype=self.dtype, name="head_norm")(jnp.mean(x, axis=(1, 2)))
    scale = self.head_init_scale
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head",
                      kernel_init=lambda *a: weight_init(*a) * scale,
                      bias_init=nn.initializers.zeros)(pre_logits).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


def _register(name, depths, dims):
  register_model(functools.partial(ConvNeXt, depths=depths, dims=dims), name=name)


_register("convnext_tiny", (3, 3, 9, 3), (96, 192, 384, 768))
_register("convnext_small", (3, 3, 27, 3), (96, 192, 384, 768))
_register("convnext_base", (3, 3, 27, 3), (128, 256, 512, 1024))
_register("convnext_large", (3, 3, 27, 3), (192, 384, 768, 1536))
_register("convnext_xlarge", (3, 3, 27, 3), (256, 512, 1024, 2048))
