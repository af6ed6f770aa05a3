"""DenseNet (Huang et al. 2017), DenseNet-BC as torchvision models/densenet.py builds it.

Each dense layer is BN -> ReLU -> 1x1 conv (bn_size * growth) -> BN -> ReLU -> 3x3 conv (growth), its
output concatenated to its input; transitions (BN -> ReLU -> 1x1 conv halving the channels, compression
0.5 -> 2x2 average pool) join the dense blocks. Convs have no bias; BatchNorm eps 1e-5.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.batch_norm import torch_batch_norm
from archs.layers.features import classifier_output
from archs.registry import register_model

_conv_init = nn.initializers.kaiming_normal()  # torch kaiming_normal_ (fan_in, ReLU gain)


class DenseLayer(nn.Module):
  growth_rate: int
  bn_size: int = 4
  drop_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    norm = torch_batch_norm(train, self.dtype)
    conv = functools.partial(nn.Conv, use_bias=False, kernel_init=_conv_init, dtype=self.dtype)
    y = conv(self.bn_size * self.growth_rate, (1, 1), name="conv1")(relu(norm(name="norm1")(x)))
    y = conv(self.growth_rate, (3, 3), padding=[(1, 1)] * 2, name="conv2")(relu(norm(name="norm2")(y)))
    y = nn.Dropout(self.drop_rate, deterministic=not train)(y)
    return jnp.concatenate([x, y], axis=-1)


class Transition(nn.Module):
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = relu(torch_batch_norm(train, self.dtype)(name="norm")(x))
    x = nn.Conv(self.features, (1, 1), use_bias=False, kernel_init=_conv_init, dtype=self.dtype, name="conv")(x)
    return nn.avg_pool(x, (2, 2), (2, 2))


class DenseNet(nn.Module):
  num_classes: int = 1000
  growth_rate: int = 32
  block_config: Sequence[int] = (6, 12, 24, 16)
  num_init_features: int = 64
  bn_size: int = 4
  compression: float = 0.5
  drop_rate: float = 0.0  # dropout after each dense layer (torchvision's drop_rate)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    x = x.astype(self.dtype)
    x = nn.Conv(self.num_init_features, (7, 7), (2, 2), padding=[(3, 3)] * 2, use_bias=False,
                kernel_init=_conv_init, dtype=self.dtype, name="conv0")(x)
    x = relu(torch_batch_norm(train, self.dtype)(name="norm0")(x))
    x = nn.max_pool(x, (3, 3), (2, 2), padding=[(1, 1)] * 2)
    stages = []
    for i, num_layers in enumerate(self.block_config):
      for j in range(num_layers):
        x = DenseLayer(self.growth_rate, self.bn_size, self.drop_rate, self.dtype,
                       name=f"block{i + 1}_layer{j + 1}")(x, train)
      if i == len(self.block_config) - 1:
        x = relu(torch_batch_norm(train, self.dtype)(name="norm5")(x))
        stages.append(x)
      else:
        stages.append(x)
        x = Transition(int(x.shape[-1] * self.compression), self.dtype, name=f"transition{i + 1}")(x, train)
    pre_logits = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, bias_init=nn.initializers.zeros, dtype=self.dtype,
                      name="classifier")(pre_logits).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


register_model(DenseNet, name="densenet121")
register_model(functools.partial(DenseNet, block_config=(6, 12, 32, 32)), name="densenet169")
register_model(functools.partial(DenseNet, block_config=(6, 12, 48, 32)), name="densenet201")
register_model(functools.partial(DenseNet, growth_rate=48, block_config=(6, 12, 36, 24), num_init_features=96),
               name="densenet161")
