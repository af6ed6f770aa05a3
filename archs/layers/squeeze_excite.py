"""Squeeze-and-Excitation (Hu et al. 2018): channel gates from globally pooled features."""
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu, sigmoid


class SqueezeExcite(nn.Module):
  """x * sigmoid(W2 act(W1 mean_hw(x))), hidden = channels // reduction; both FCs with bias (1x1 convs in the
  reference SENet and in timm). reduction=16 is SENet; ResNet-RS uses 4 (se_ratio 0.25 of the block output)."""
  reduction: int = 16
  act: Callable = relu
  gate: Callable = sigmoid
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    hidden = max(1, channels // self.reduction)
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = self.act(nn.Dense(hidden, dtype=self.dtype, name="fc1")(s))
    s = nn.Dense(channels, dtype=self.dtype, name="fc2")(s)
    return x * self.gate(s)
