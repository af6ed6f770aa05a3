"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition").

CONV-POOL-CONV-POOL-FC-FC-FC on 32x32 input: C1 6@5x5 valid -> S2 2x2 -> C3 16@5x5 -> S4 2x2 -> C5 120 ->
F6 84 -> output. Differences from the paper by default, by the usual modern convention, each with the paper's
form as an option:
- S2/S4 are plain average (or max) pooling; the paper's subsampling adds each 2x2 block, multiplies it by a
  trainable coefficient, adds a trainable bias (one of each per map) and squashes: `pool="trainable"`.
- C3 connects every S2 map (2,416 parameters); `c3_table="paper"` is the sparse connection table (Table I: maps
  0-5 see 3 contiguous S2 maps, 6-11 four contiguous, 12-14 four non-contiguous, 15 all six), 1,516 parameters.
- The output layer is a linear classifier; `output="rbf"` is the paper's Euclidean RBF units (Eq. 7),
  y_i = sum_j (x_j - w_ij)^2, returned as logits -y_i (so softmax cross-entropy is the paper's Eq. 9 criterion
  without its constant j). The paper set w_i by hand to +-1 bitmaps of 7x12 stylized characters and kept them fixed;
  here they start as random +-1 and train.
- C5 is a 5x5 valid convolution on the 5x5 S4 maps, i.e. a fully connected layer of 400 -> 120 (same count).
Default activation is the paper's scaled tanh f(a) = 1.7159 tanh(2a/3) (Appendix A); `activation="relu"`
and `pool="max"` give the common modern variant. 1x32x32 input, 10 classes: 61,706 parameters; the paper's form
(pool="trainable", c3_table="paper", output="rbf") has the paper's per-layer counts (C1 156, S2 12, C3 1,516, S4 32,
C5 48,120, F6 10,164, output 840): 60,840.
`kernel_init` (a name, archs/layers/initializers.py) sets every conv and dense kernel's init; the default is flax's
lecun_normal (the paper's Appendix C draws U(-2.4/F, 2.4/F), F = fan-in; not reproduced).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.layers import activations
from archs.layers.features import classifier_output
from archs.layers.initializers import kernel_init as init_from_spec
from archs.registry import register_model


def scaled_tanh(x):
  """1.7159 tanh(2x/3): f(1) = 1 and f(-1) = -1, maximal second derivative at +-1 (paper, Appendix A)."""
  return 1.7159 * jnp.tanh(2.0 * x / 3.0)


_ACTIVATIONS = {"scaled_tanh": scaled_tanh, "tanh": activations.tanh, "relu": activations.relu,
                "sigmoid": activations.sigmoid}
_POOLS = {"avg": nn.avg_pool, "max": nn.max_pool}
POOL_KINDS = (*_POOLS, "trainable")
C3_TABLES = ("full", "paper")
OUTPUTS = ("linear", "rbf")
# Table I of the paper: the S2 maps each C3 map reads.
C3_PAPER_TABLE = tuple(tuple((j + k) % 6 for k in range(3)) for j in range(6)) + \
    tuple(tuple((j + k) % 6 for k in range(4)) for j in range(6)) + ((0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5)) + \
    ((0, 1, 2, 3, 4, 5),)


class Subsampling(nn.Module):
  """The paper's S2/S4: act(coefficient * (sum of each 2x2 block) + bias), one coefficient and bias per map."""
  activation: Callable
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    coefficient = self.param("coefficient", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    block_sum = nn.avg_pool(x, (2, 2), strides=(2, 2)) * 4.0
    return self.activation(block_sum * coefficient.astype(self.dtype) + bias.astype(self.dtype))


class PartialConv(nn.Module):
  """A valid 5x5 convolution whose output map j reads only the input maps table[j] (the paper's C3)."""
  table: tuple
  dtype: jnp.dtype = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x):
    maps = [nn.Conv(1, (5, 5), padding="VALID", dtype=self.dtype, kernel_init=self.kernel_init,
                    name=f"map_{j}")(x[..., list(inputs)])
            for j, inputs in enumerate(self.table)]
    return jnp.concatenate(maps, axis=-1)


class RBFOutput(nn.Module):
  """Euclidean RBF units (the paper's Eq. 7): logits -sum_j (x_j - w_ij)^2, w initialised to random +-1."""
  num_classes: int

  @nn.compact
  def __call__(self, x):
    init = lambda key, shape: jax.random.rademacher(key, shape, jnp.float32)
    centres = self.param("centres", init, (self.num_classes, x.shape[-1]))
    x = x.astype(jnp.float32)
    return -jnp.sum((x[:, None, :] - centres[None]) ** 2, axis=-1)


class LeNet5(nn.Module):
  num_classes: int = 10
  activation: str = "scaled_tanh"
  pool: str = "avg"
  c3_table: str = "full"
  output: str = "linear"
  kernel_init: Any = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f"LeNet5: unknown activation {self.activation!r}; accepted: {', '.join(_ACTIVATIONS)}")
    for field, value, accepted in (("pool", self.pool, POOL_KINDS), ("c3_table", self.c3_table, C3_TABLES),
                                   ("output", self.output, OUTPUTS)):
      if value not in accepted:
        raise ValueError(f"LeNet5: unknown {field} {value!r}; accepted: {', '.join(accepted)}")
    if x.ndim != 4 or x.shape[1:3] != (32, 32):
      raise ValueError(f"LeNet5 takes NHWC input of 32x32 images, got shape {tuple(x.shape)}")
    act = _ACTIVATIONS[self.activation]
    init = init_from_spec(self.kernel_init) or nn.initializers.lecun_normal()
    conv = functools.partial(nn.Conv, kernel_size=(5, 5), padding="VALID", dtype=self.dtype, kernel_init=init)
    if self.pool == "trainable":
      pool = lambda y, name: Subsampling(act, self.dtype, name=name)(y)
    else:
      pool = lambda y, name: _POOLS[self.pool](y, (2, 2), strides=(2, 2))
    x = x.astype(self.dtype)
    c1 = act(conv(6, name="c1")(x))                                                      # 28x28x6
    s2 = pool(c1, "s2")                                                                  # 14x14x6
    if self.c3_table == "paper":
      c3 = act(PartialConv(C3_PAPER_TABLE, self.dtype, init, name="c3")(s2))            # 10x10x16
    else:
      c3 = act(conv(16, name="c3")(s2))
    s4 = pool(c3, "s4")                                                                  # 5x5x16
    c5 = act(conv(120, name="c5")(s4))                                                   # 1x1x120
    f6 = act(nn.Dense(84, dtype=self.dtype, kernel_init=init, name="f6")(c5.reshape(c5.shape[0], -1)))
    if self.output == "rbf":
      logits = RBFOutput(self.num_classes, name="output")(f6)
    else:
      logits = nn.Dense(self.num_classes, dtype=self.dtype, kernel_init=init, name="output")(f6).astype(jnp.float32)
    return classifier_output(logits, f6, (c1, c3, c5), return_features)


register_model(LeNet5, name="lenet5")
