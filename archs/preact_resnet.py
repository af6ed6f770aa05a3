"""Pre-activation ResNets (He et al. 2016, "Identity Mappings"): BN -> ReLU -> conv inside every residual unit.

ImageNet (fb.resnet.torch preresnet.lua layout): stem conv7x7/2 -> BN -> ReLU -> max pool, so the first unit
takes an already activated input (the paper's "activation right after conv1, before splitting into two paths");
projection shortcuts are bare 1x1 convs fed with the pre-activated input; one extra BN -> ReLU after the last unit.
CIFAR Wide ResNet-d-k (Zagoruyko & Komodakis 2016, szagoruyko/wide-residual-networks): conv3x3(16) stem without
BN, (d - 4) / 6 pre-activation basic units per group of widths 16k, 32k, 64k, dropout between the two convs,
a 1x1 shortcut wherever the width changes; no conv biases. WRN-40-1 has 563,930 params.
Both take `kernel_init` (a name for every conv and the fc, archs/layers/initializers.py; None: the reference's) and
`norm` (batch, layer, instance, group[:G], archs/layers/norms.py; the layers keep their names bn*).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar, Sequence

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.features import classifier_output
from archs.layers.initializers import kernel_init as init_from_spec
from archs.layers.norms import make_norm
from archs.registry import register_model
from archs.resnet import BlockFields, conv_init, torch_dense

ModuleDef = Any


class PreActUnit(BlockFields):
  """BlockFields and what a pre-activation unit adds."""
  preactivate: bool = True  # False for the unit right after the activated stem
  drop_rate: float = 0.0  # WRN's dropout between the convs


class PreActBasicBlock(PreActUnit):
  """BN -> act -> conv3x3(stride) -> BN -> act [-> dropout] -> conv3x3, + shortcut."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    pre = self.act(self.norm(name="bn1")(x)) if self.preactivate else x
    y = self.conv(self.filters, (3, 3), self.strides, padding=1, name="conv1")(pre)
    y = self.act(self.norm(name="bn2")(y))
    y = nn.Dropout(self.drop_rate, deterministic=not train)(y)
    y = self.conv(self.filters, (3, 3), padding=1, name="conv2")(y)
    return _shortcut(self, x, pre) + y


class PreActBottleneck(PreActUnit):
  """BN -> act -> conv1x1 -> BN -> act -> conv3x3(stride) -> BN -> act -> conv1x1(4x), + shortcut."""
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x, train: bool = False):
    pre = self.act(self.norm(name="bn1")(x)) if self.preactivate else x
    y = self.conv(self.filters, (1, 1), padding=0, name="conv1")(pre)
    y = self.act(self.norm(name="bn2")(y))
    y = self.conv(self.filters, (3, 3), self.strides, padding=1, name="conv2")(y)
    y = self.act(self.norm(name="bn3")(y))
    y = nn.Dropout(self.drop_rate, deterministic=not train)(y)
    y = self.conv(self.filters * 4, (1, 1), padding=0, name="conv3")(y)
    return _shortcut(self, x, pre) + y


def _shortcut(block, x, pre):
  out = block.filters * block.expansion
  if block.strides == 1 and x.shape[-1] == out:
    return x  # identity from the raw input: nothing but additions on the skip path
  return block.conv(out, (1, 1), block.strides, padding=0, name="shortcut")(pre)


def _layers(module, train):
  init = init_from_spec(module.kernel_init) or conv_init
  conv = functools.partial(nn.Conv, use_bias=False, dtype=module.dtype, kernel_init=init)
  return conv, make_norm(module.norm, train, module.dtype)


def _head(module, x, stages, train, return_features):
  x = module.act(make_norm(module.norm, train, module.dtype)(name="final_bn")(x))
  pre_logits = jnp.mean(x, axis=(1, 2))
  init = init_from_spec(module.kernel_init)
  logits = torch_dense(module.num_classes, pre_logits.shape[-1], dtype=module.dtype, name="fc",
                       **({"kernel_init": init} if init else {}))(pre_logits)
  logits = logits.astype(jnp.float32)
  return classifier_output(logits, pre_logits, stages, return_features)


class PreActResNet(nn.Module):
  """ImageNet pre-activation ResNet (widths 64, 128, 256, 512 x expansion)."""
  stage_sizes: Sequence[int]
  block: ModuleDef
  num_classes: int = 1000
  dtype: Any = jnp.float32
  act: Callable = relu
  # Weights option (archs.weights): imgclsmob's preresnet pre-activates the first unit too (one more BN).
  preactivate_first: bool = False
  kernel_init: Any = None
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    conv, norm = _layers(self, train)
    x = conv(64, (7, 7), 2, padding=3, name="conv1")(x)
    x = self.act(norm(name="bn1")(x))
    x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    stages = []
    for i, depth in enumerate(self.stage_sizes):
      for j in range(depth):
        x = self.block(64 * 2**i, conv, norm, self.act, strides=2 if i > 0 and j == 0 else 1,
                       preactivate=self.preactivate_first or (i, j) != (0, 0), name=f"layer{i + 1}_{j}")(x, train)
      stages.append(x)
    return _head(self, x, stages, train, return_features)


class WideResNet(nn.Module):
  """CIFAR WRN-depth-widen_factor; drop_rate is the dropout between each unit's convs (0.3 in the paper)."""
  depth: int = 28
  widen_factor: int = 10
  num_classes: int = 10
  drop_rate: float = 0.0
  dtype: Any = jnp.float32
  act: Callable = relu
  kernel_init: Any = None
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if self.depth < 10 or (self.depth - 4) % 6:
      raise ValueError(f"WRN depth must be 6n + 4 with n >= 1, got {self.depth}")
    conv, norm = _layers(self, train)
    x = conv(16, (3, 3), padding=1, name="conv0")(x)
    stages = []
    for i in range(3):
      for j in range((self.depth - 4) // 6):
        x = PreActBasicBlock(16 * self.widen_factor * 2**i, conv, norm, self.act,
                             strides=2 if i > 0 and j == 0 else 1, drop_rate=self.drop_rate,
                             name=f"group{i}_{j}")(x, train)
      stages.append(x)
    return _head(self, x, stages, train, return_features)


for _depth, (_sizes, _block) in {18: ((2, 2, 2, 2), PreActBasicBlock), 34: ((3, 4, 6, 3), PreActBasicBlock),
                                 50: ((3, 4, 6, 3), PreActBottleneck), 101: ((3, 4, 23, 3), PreActBottleneck),
                                 152: ((3, 8, 36, 3), PreActBottleneck)}.items():
  register_model(functools.partial(PreActResNet, stage_sizes=_sizes, block=_block), name=f"preact_resnet{_depth}")
for _d, _k in ((28, 10), (40, 1), (40, 2), (40, 4), (16, 8)):
  register_model(functools.partial(WideResNet, depth=_d, widen_factor=_k), name=f"wide_resnet{_d}_{_k}")
