"""VanillaNet's series-informed activation (Chen et al. 2023, eq. 6).

  A_s(x_{h,w,c}) = sum_{i,j=-n..n} a_{i,j,c} ReLU(x_{h+i,w+j,c}) + b_c

i.e. ReLU followed by a (2n+1)x(2n+1) depthwise convolution with zero padding n (reference:
huawei-noah/VanillaNet models/vanillanet.py, `class activation`). In train mode the convolution has no
bias and is followed by BatchNorm (eps 1e-6); `fold_batch_norm` turns that into the deploy form, one
depthwise convolution with bias (the paper's b_c).

n = `act_num` = 0 follows the reference code literally: a 1x1 depthwise kernel, i.e. a learned
per-channel scale of ReLU (+ BN, or + bias when deployed): A_s(x) = a_c ReLU(x) + b_c. It is not a
plain ReLU: parameter counts and the deploy fusion stay uniform in n.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.layers.batch_norm import fold_into_conv, torch_batch_norm

BN_EPS = 1e-6


class DepthwiseConv(nn.Module):
  """Depthwise k x k convolution, zero padding k // 2, kernel (k, k, 1, C) as flax.linen.Conv's.

  implementation: "conv" (lax grouped convolution), "shifts" (eq. 6 literally: k^2 shifted products,
  the same numbers; its gradients are ~5x faster on XLA:CPU, whose grouped-conv gradients are slow),
  "auto": shifts on the CPU backend, conv elsewhere.
  """
  size: int
  use_bias: bool = False
  implementation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.implementation not in ("auto", "conv", "shifts"):
      raise ValueError(f"implementation {self.implementation!r}; accepted: auto, conv, shifts")
    channels, pad = x.shape[-1], self.size // 2
    # timm trunc_normal_(std=.02) cuts at +-2 absolute: an untruncated N(0, .02^2).
    kernel = self.param("kernel", nn.initializers.normal(0.02), (self.size, self.size, 1, channels))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    shifts = self.implementation == "shifts" or (self.implementation == "auto" and jax.default_backend() == "cpu")
    if shifts:
      height, width = x.shape[1:3]
      padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
      y = sum(padded[:, i:i + height, j:j + width, :] * kernel[i, j, 0]
              for i in range(self.size) for j in range(self.size))
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), [(pad, pad), (pad, pad)],
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (channels,)).astype(self.dtype)
    return y


class SeriesActivation(nn.Module):
  """ReLU -> depthwise (2n+1)^2 conv -> BN (train form), or -> depthwise conv with bias (deploy form).

  Parameters: train (2n+1)^2 C + 2C (kernel, BN scale and bias), deploy (2n+1)^2 C + C.
  `implementation` of the depthwise conv: see DepthwiseConv (same parameters and outputs).
  """
  act_num: int = 3
  deploy: bool = False
  implementation: str = "auto"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.act_num < 0:
      raise ValueError(f"act_num must be >= 0 (kernel 2*act_num+1), got {self.act_num}")
    x = DepthwiseConv(2 * self.act_num + 1, use_bias=self.deploy, implementation=self.implementation,
                      dtype=self.dtype, name="conv")(jax.nn.relu(x))
    if self.deploy:
      return x
    return torch_batch_norm(train, self.dtype, BN_EPS)(name="bn")(x)


def fold_batch_norm(params, batch_stats, eps: float = BN_EPS):
  """Train-form variables of one SeriesActivation -> params of its deploy form (1.1 of the spec).

  W' = W gamma / sigma, b' = beta - mu gamma / sigma, sigma = sqrt(var + eps); the conv has no bias.
  """
  kernel, bias = fold_into_conv(params["conv"]["kernel"], None, params["bn"], batch_stats["bn"], eps)
  return {"conv": {"kernel": kernel, "bias": bias}}  # kernel (k, k, 1, C): the fold scales axis -1
