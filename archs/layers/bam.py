"""Bottleneck Attention Module (Park et al. 2018; Jongchan/attention-module MODELS/bam.py)."""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu, sigmoid
from archs.layers.batch_norm import torch_batch_norm

COMBINES = ("sum", "product")


class BAM(nn.Module):
  """F' = F + F * sigmoid(Mc(F) + Ms(F)) (paper eq. 1-2, combine='sum', the default) or, as the reference code and
  its published checkpoints, F * (1 + sigmoid(Mc(F) * Ms(F))) (combine='product').

  Mc: GAP -> FC(C/r) -> BN -> ReLU -> FC(C). Ms: 1x1 conv(C/r) -> BN -> ReLU -> 2 x [3x3 conv dilation 4 -> BN ->
  ReLU] -> 1x1 conv(1). All FCs and convs have biases. BN eps 1e-5, PyTorch momentum 0.1.
  """
  reduction: int = 16
  dilation: int = 4
  num_dilated_convs: int = 2
  combine: str = "sum"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.combine not in COMBINES:
      raise ValueError(f"unknown BAM combine {self.combine!r}; accepted: {', '.join(COMBINES)}")
    channels = x.shape[-1]
    hidden = channels // self.reduction
    norm = torch_batch_norm(train, self.dtype)

    mc = jnp.mean(x, axis=(1, 2))
    mc = relu(norm(name="channel_bn")(nn.Dense(hidden, dtype=self.dtype, name="channel_fc1")(mc)))
    mc = nn.Dense(channels, dtype=self.dtype, name="channel_fc2")(mc)[:, None, None, :]

    ms = nn.Conv(hidden, (1, 1), dtype=self.dtype, name="spatial_reduce")(x)
    ms = relu(norm(name="spatial_reduce_bn")(ms))
    d = self.dilation
    for i in range(self.num_dilated_convs):
      ms = nn.Conv(hidden, (3, 3), padding=((d, d), (d, d)), kernel_dilation=d, dtype=self.dtype,
                   name=f"spatial_dilated{i}")(ms)
      ms = relu(norm(name=f"spatial_dilated{i}_bn")(ms))
    ms = nn.Conv(1, (1, 1), dtype=self.dtype, name="spatial_final")(ms)

    if self.combine == "sum":
      return x + x * sigmoid(mc + ms)
    return x * (1.0 + sigmoid(mc * ms))
