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

BN_EPS = 1e-6
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


class SeriesActivation(nn.Module):
  """ReLU -> depthwise (2n+1)^2 conv -> BN (train form), or -> depthwise conv with bias (deploy form).

  Parameters: train (2n+1)^2 C + 2C (kernel, BN scale and bias), deploy (2n+1)^2 C + C.
  """
  act_num: int = 3
  deploy: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.act_num < 0:
      raise ValueError(f"act_num must be >= 0 (kernel 2*act_num+1), got {self.act_num}")
    channels = x.shape[-1]
    size = 2 * self.act_num + 1
    x = nn.Conv(channels, (size, size), padding=self.act_num, feature_group_count=channels,
                use_bias=self.deploy, dtype=self.dtype,
                # timm trunc_normal_(std=.02) cuts at +-2 absolute: an untruncated N(0, .02^2).
                kernel_init=nn.initializers.normal(0.02), name="conv")(jax.nn.relu(x))
    if self.deploy:
      return x
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPS,
                        dtype=self.dtype, name="bn")(x)


def fold_batch_norm(params, batch_stats, eps: float = BN_EPS):
  """Train-form variables of one SeriesActivation -> params of its deploy form (1.1 of the spec).

  W' = W gamma / sigma, b' = beta - mu gamma / sigma, sigma = sqrt(var + eps); the conv has no bias.
  """
  bn, stats = params["bn"], batch_stats["bn"]
  t = bn["scale"] / jnp.sqrt(stats["var"] + eps)
  return {"conv": {"kernel": params["conv"]["kernel"] * t,  # kernel (k, k, 1, C): t scales axis -1
                   "bias": bn["bias"] - stats["mean"] * t}}
