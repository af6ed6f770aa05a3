"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition").

CONV-POOL-CONV-POOL-FC-FC-FC on 32x32 input: C1 6@5x5 valid -> S2 2x2 -> C3 16@5x5 -> S4 2x2 -> C5 120 ->
F6 84 -> output. Differences from the paper, by the usual modern convention:
- S2/S4 are plain average (or max) pooling; the paper's subsampling layers had a trainable coefficient and bias.
- C3 connects every S2 map (the paper's sparse connection table, Table I, gave 1,516 weights instead of 2,416).
- C5 is a 5x5 valid convolution on the 5x5 S4 maps, i.e. a fully connected layer of 400 -> 120 (same count).
- The output layer is a linear classifier; the paper used Euclidean RBF units.
Default activation is the paper's scaled tanh f(a) = 1.7159 tanh(2a/3) (Appendix A); `activation="relu"`
and `pool="max"` give the common modern variant. 1x32x32 input, 10 classes: 61,706 parameters.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from archs.layers import activations
from archs.layers.features import classifier_output
from archs.registry import register_model


def scaled_tanh(x):
  """1.7159 tanh(2x/3): f(1) = 1 and f(-1) = -1, maximal second derivative at +-1 (paper, Appendix A)."""
  return 1.7159 * jnp.tanh(2.0 * x / 3.0)


_ACTIVATIONS = {"scaled_tanh": scaled_tanh, "tanh": activations.tanh, "relu": activations.relu,
                "sigmoid": activations.sigmoid}
_POOLS = {"avg": nn.avg_pool, "max": nn.max_pool}


class LeNet5(nn.Module):
  num_classes: int = 10
  activation: str = "scaled_tanh"
  pool: str = "avg"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f"LeNet5: unknown activation {self.activation!r}; accepted: {', '.join(_ACTIVATIONS)}")
    if self.pool not in _POOLS:
      raise ValueError(f"LeNet5: unknown pool {self.pool!r}; accepted: {', '.join(_POOLS)}")
    if x.ndim != 4 or x.shape[1:3] != (32, 32):
      raise ValueError(f"LeNet5 takes NHWC input of 32x32 images, got shape {tuple(x.shape)}")
    act, pool = _ACTIVATIONS[self.activation], _POOLS[self.pool]
    x = x.astype(self.dtype)
    c1 = act(nn.Conv(6, (5, 5), padding="VALID", dtype=self.dtype, name="c1")(x))        # 28x28x6
    s2 = pool(c1, (2, 2), strides=(2, 2))                                                # 14x14x6
    c3 = act(nn.Conv(16, (5, 5), padding="VALID", dtype=self.dtype, name="c3")(s2))      # 10x10x16
    s4 = pool(c3, (2, 2), strides=(2, 2))                                                # 5x5x16
    c5 = act(nn.Conv(120, (5, 5), padding="VALID", dtype=self.dtype, name="c5")(s4))     # 1x1x120
    f6 = act(nn.Dense(84, dtype=self.dtype, name="f6")(c5.reshape(c5.shape[0], -1)))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="output")(f6).astype(jnp.float32)
    return classifier_output(logits, f6, (c1, c3, c5), return_features)


register_model(LeNet5, name="lenet5")
