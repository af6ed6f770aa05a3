"""MobileNet v1 (Howard et al. 2017): depthwise-separable convolutions and a width multiplier.

conv 3x3/2 (32) then 13 blocks of depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU
(Table 1 of the paper), global average pool, FC. Layout and counts of osmr/imgclsmob mobilenet.py:
convs without bias, BatchNorm eps 1e-5, every width (the stem's 32 and the classifier's input
included) scaled by alpha and truncated with int(); for alpha in {1, 0.75, 0.5, 0.25} all widths are
exact multiples, so no rounding happens.
"""
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.conv_bn import ConvBN
from archs.layers.features import classifier_output
from archs.registry import register_model

# (width, stride) of the 13 depthwise-separable blocks, grouped into stages at each stride 2.
MOBILENET_V1_BLOCKS = (
    ((64, 1),),
    ((128, 2), (128, 1)),
    ((256, 2), (256, 1)),
    ((512, 2),) + ((512, 1),) * 5,
    ((1024, 2), (1024, 1)),
)

_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # imgclsmob pointwise/stem init
_fan_in = nn.initializers.variance_scaling(2.0, "fan_in", "normal")    # imgclsmob depthwise init


class DepthwiseSeparable(nn.Module):
  features: int
  stride: int = 1
  act: Callable = relu
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    channels = x.shape[-1]
    x = ConvBN(channels, 3, self.stride, 1, groups=channels, act=self.act, kernel_init=_fan_in, dtype=self.dtype,
               name="dw")(x, train)
    return ConvBN(self.features, 1, act=self.act, kernel_init=_fan_out, dtype=self.dtype, name="pw")(x, train)


class MobileNetV1(nn.Module):
  num_classes: int = 1000
  width_multiplier: float = 1.0
  stem_width: int = 32
  blocks: Sequence[Sequence[tuple[int, int]]] = MOBILENET_V1_BLOCKS
  drop_rate: float = 0.0  # imgclsmob has none; TF-slim mobilenet_v1 uses dropout_keep_prob 0.999
  act: Callable = relu  # weights option (archs.weights): timm's checkpoints need jax.nn.relu6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if self.width_multiplier <= 0:
      raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier}")
    scale = lambda c: int(c * self.width_multiplier)
    x = x.astype(self.dtype)
    x = ConvBN(scale(self.stem_width), 3, 2, 1, act=self.act, kernel_init=_fan_out, dtype=self.dtype,
               name="stem")(x, train)
    stages = []
    for s, stage in enumerate(self.blocks, start=1):
      for b, (width, stride) in enumerate(stage, start=1):
        x = DepthwiseSeparable(scale(width), stride, self.act, self.dtype, name=f"stage{s}_block{b}")(x, train)
      stages.append(x)
    pre_logits = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.drop_rate, deterministic=not train)(pre_logits)
    logits = nn.Dense(self.num_classes, kernel_init=_fan_out, dtype=self.dtype, name="fc")(x)
    logits = logits.astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


for _name, _alpha in (("100", 1.0), ("075", 0.75), ("050", 0.5), ("025", 0.25)):
  register_model(functools.partial(MobileNetV1, width_multiplier=_alpha), name=f"mobilenet_v1_{_name}")
