"""FractalNet (Larsson, Maire & Shakhnarovich 2017): ultra-deep networks without residuals.

A block with C columns is the fractal f_{C}(z) = join(f_{C-1}(f_{C-1}(z)), conv(z)): column j
(0 = shallowest) has 2^j convs, and joins (the element-wise MEAN of their surviving inputs) sit
wherever columns meet. Each conv unit is Conv -> Dropout -> BN -> ReLU (paper / gustavla/fractalnet;
`dropout_last=True` is imgclsmob's Conv -> BN -> ReLU -> Dropout). 2x2 max-pool after every block.

Drop-path (training only; the 'batch_dropout' RNG stream, else 'dropout'), one draw per mini-batch as in the paper:
- local: every join drops each input with probability `local_drop_rate` (0.15), keeping at least one
  (a random input is revived when all are dropped);
- global: one column, drawn for the whole network (`global_scope="network"`, paper, default) or
  separately for each block (`global_scope="block"`, khanrc/pt.fractalnet), is the only path kept;
- each mini-batch is global with probability `global_drop_ratio` (0.5), otherwise local.
At test time every join averages all its inputs (all paths). Counts: imgclsmob fractalnet_cifar10,
20 layers (C=3, 5 blocks), convs without bias = 33,724,618.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.batch_norm import torch_batch_norm
from archs.layers.features import classifier_output
from archs.layers.stochastic_depth import batch_rng
from archs.registry import register_model


class FractalConv(nn.Module):
  features: int
  drop_rate: float = 0.0
  dropout_last: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    dropout = nn.Dropout(self.drop_rate, deterministic=not train)
    x = nn.Conv(self.features, (3, 3), padding=[(1, 1)] * 2, use_bias=False,
                kernel_init=nn.initializers.kaiming_uniform(), dtype=self.dtype, name="conv")(x)
    if not self.dropout_last:
      x = dropout(x)
    x = relu(torch_batch_norm(train, self.dtype)(name="bn")(x))
    return dropout(x) if self.dropout_last else x


def join(inputs, weights=None):
  """Mean of the inputs whose weight is 1 (all of them when weights is None); zeros if none survive."""
  stacked = jnp.stack(inputs)
  if weights is None:
    return jnp.mean(stacked, axis=0)
  weights = weights.astype(stacked.dtype)
  total = jnp.tensordot(weights, stacked, axes=1)
  return total / jnp.maximum(jnp.sum(weights), 1.0)


class FractalBlock(nn.Module):
  features: int
  num_columns: int = 3
  drop_rate: float = 0.0
  local_drop_rate: float = 0.15
  dropout_last: bool = False
  dtype: Any = jnp.float32

  def _join_weights(self, columns, global_column, use_global):
    """0/1 weight per joined column: the global column alone, or a local draw with one revived if all die."""
    n = len(columns)
    keep = jax.random.bernoulli(batch_rng(self), 1.0 - self.local_drop_rate, (n,))
    revive = jax.random.randint(batch_rng(self), (), 0, n)
    local = jnp.where(jnp.any(keep), keep, jnp.arange(n) == revive)
    global_ = jnp.asarray(columns) == global_column
    return jnp.where(use_global, global_, local)

  @nn.compact
  def __call__(self, x, train: bool = False, global_column=None, use_global=False):
    depth = 2 ** (self.num_columns - 1)
    inputs = [x] * self.num_columns  # what each column's next conv reads
    for position in range(1, depth + 1):
      # Column j's convs span depth / 2^j positions each; it meets the join when one ends here.
      columns = [j for j in range(self.num_columns) if position % (depth // 2 ** j) == 0]
      outputs = []
      for j in columns:
        k = position // (depth // 2 ** j)
        outputs.append(FractalConv(self.features, self.drop_rate, self.dropout_last, self.dtype,
                                   name=f"col{j + 1}_conv{k}")(inputs[j], train))
      weights = self._join_weights(columns, global_column, use_global) if train else None
      joined = join(outputs, weights)
      for j in columns:
        inputs[j] = joined
    return inputs[0]


class FractalNet(nn.Module):
  num_classes: int = 10
  widths: Sequence[int] = (64, 128, 256, 512, 512)
  drop_rates: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4)
  num_columns: int = 3
  local_drop_rate: float = 0.15
  global_drop_ratio: float = 0.5
  global_scope: str = "network"  # "network" (paper) or "block" (khanrc)
  dropout_last: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if self.global_scope not in ("network", "block"):
      raise ValueError(f"global_scope must be 'network' or 'block', got {self.global_scope!r}")
    if len(self.widths) != len(self.drop_rates):
      raise ValueError(f"widths {self.widths} and drop_rates {self.drop_rates} differ in length")
    use_global, global_column = False, None
    if train:
      use_global = jax.random.bernoulli(batch_rng(self), self.global_drop_ratio)
      global_column = jax.random.randint(batch_rng(self), (), 0, self.num_columns)
    x = x.astype(self.dtype)
    stages = []
    for i, (width, rate) in enumerate(zip(self.widths, self.drop_rates)):
      if train and self.global_scope == "block" and i > 0:
        global_column = jax.random.randint(batch_rng(self), (), 0, self.num_columns)
      x = FractalBlock(width, self.num_columns, rate, self.local_drop_rate, self.dropout_last, self.dtype,
                       name=f"block{i + 1}")(x, train, global_column, use_global)
      x = nn.max_pool(x, (2, 2), (2, 2))
      stages.append(x)
    pre_logits = x.reshape(x.shape[0], -1)  # 1x1x512 at 32x32 input (imgclsmob flattens)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(pre_logits).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


register_model(FractalNet, name="fractalnet20")
