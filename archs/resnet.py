"""ResNet (He et al. 2015) with torchvision's semantics, and the options its family adds.

torchvision v1.5: the stride of a bottleneck sits on its 3x3 conv; BN eps 1e-5, PyTorch momentum 0.1; convs without
bias, kaiming-normal (fan_out); the classifier keeps PyTorch's default Linear init. Options, all off by default:
ResNeXt groups and Wide-ResNet widths (`groups`, `width`, torchvision's `width_per_group`); ResNet-D deep stem and
average-pool shortcut (`stem`, `avg_down`); the CIFAR stem (`stem='cifar'`: one 3x3/1 conv, no pool); per-block
attention (`attention`, e.g. SE) and between-stage attention (`stage_attention`, e.g. BAM); anti-aliased
downsampling (`blur_filter_size`); residual drop (`drop_path_rate` with `stochastic_depth` = 'drop_path' per sample,
timm, or 'huang', one gate per batch); dropout before the classifier; no shortcuts at all (`shortcut=False`, the
paper's plain networks); the kernels' init by name (`kernel_init`, archs/layers/initializers.py; None: the
reference's) and the normalisation (`norm`: batch, layer, instance, group[:G], archs/layers/norms.py; the layers
keep their names bn*).
Deep training (VanillaNet, Chen et al. 2023): `act_lambda` passed to `__call__` (a scheduled argument of the
trainer) blends every activation inside a residual branch with the identity, (1 - lam) act(x) + lam x; at lam = 1
each branch is a chain of convs and BNs that could merge into one conv. The activations of the stem and after each
sum stay as they are (the paper does not say which ReLUs of its ResNet-50 it deep-trains: these are the ones whose
removal merges layers without making the network linear). None (default) is the plain ResNet, = lam 0.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import relu
from archs.layers.blurpool import BlurPool
from archs.layers.deep_training import deep_trained
from archs.layers.drop_path import DropPath
from archs.layers.features import classifier_output
from archs.layers.initializers import kernel_init as init_from_spec
from archs.layers.initializers import torch_linear_bias_init, torch_linear_kernel_init
from archs.layers.norms import make_norm
from archs.layers.stochastic_depth import StochasticDepth, linear_decay_rates
from archs.registry import register_model

ModuleDef = Any
STEMS = ("classic", "deep", "cifar")
STEM_POOLS = ("max", "conv")
STOCHASTIC_DEPTH = {"drop_path": DropPath, "huang": StochasticDepth}

conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")  # kaiming_normal_(mode='fan_out', 'relu')


def torch_dense(features: int, fan_in: int, **kw) -> nn.Dense:
  """nn.Linear's default init: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); `kernel_init=` overrides."""
  kw = {"kernel_init": torch_linear_kernel_init, **kw}
  return nn.Dense(features, bias_init=torch_linear_bias_init(fan_in), **kw)


def avg_pool_ceil(x, stride: int):
  """AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False), ResNet-D's shortcut pool."""
  pad = [(0, -n % stride) for n in x.shape[1:3]]
  return nn.avg_pool(x, (stride, stride), (stride, stride), padding=pad, count_include_pad=False)


class Downsample(nn.Module):
  """Projection shortcut 1x1 conv + BN; ResNet-D average-pools first, the anti-aliased net blurs first."""
  features: int
  strides: int
  conv: ModuleDef
  norm: ModuleDef
  avg_down: bool = False
  blur: ModuleDef | None = None

  @nn.compact
  def __call__(self, x):
    strides = self.strides
    if strides > 1 and self.avg_down:
      x, strides = avg_pool_ceil(x, strides), 1
    elif strides > 1 and self.blur is not None:
      x, strides = self.blur(stride=strides)(x), 1
    x = self.conv(self.features, (1, 1), strides, padding=0, name="conv")(x)
    return self.norm(name="bn")(x)


class BlockFields(nn.Module):
  """What every residual block of the zoo is given (torchvision, pre-activation, CIFAR and hypernetwork ResNets):
  its width, conv and norm factories, activation and stride; `expansion` = output channels / `filters`."""
  filters: int
  conv: ModuleDef
  norm: ModuleDef
  act: Callable = relu
  strides: int = 1
  inner_act: Callable | None = None  # the activations between the convs (deep training); None: act
  expansion: ClassVar[int] = 1

  def act_inside(self, x):
    return (self.inner_act or self.act)(x)


class ResidualBlock(BlockFields):
  """BlockFields and the options torchvision's family adds (see the module docstring)."""
  groups: int = 1
  base_width: int = 64
  attention: ModuleDef | None = None
  blur: ModuleDef | None = None  # anti-aliased: the strided conv runs at stride 1, then BlurPool(stride)
  avg_down: bool = False
  drop_path: ModuleDef = DropPath
  drop_path_rate: float = 0.0
  zero_init_last: bool = False
  shortcut: bool = True  # False: the plain network of the degradation experiment (no identity, no projection)


class BasicBlock(ResidualBlock):
  """conv3x3(stride) -> BN -> act -> conv3x3 -> BN [-> attention] [-> drop], + shortcut, act."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.groups != 1 or self.base_width != 64:
      raise ValueError(f"BasicBlock accepts only groups=1 and width=64 (torchvision), got {self.groups}, "
                       f"{self.base_width}")
    blur = self.blur is not None and self.strides > 1
    y = self.conv(self.filters, (3, 3), 1 if blur else self.strides, padding=1, name="conv1")(x)
    y = self.act_inside(self.norm(name="bn1")(y))
    if blur:
      y = self.blur(stride=self.strides)(y)
    y = self.conv(self.filters, (3, 3), padding=1, name="conv2")(y)
    y = self.norm(name="bn2", scale_init=_last_gamma(self.zero_init_last))(y)
    return self.act(_shortcut(self, x) + _residual(self, y, train))


class Bottleneck(ResidualBlock):
  """conv1x1 -> BN -> act -> conv3x3(stride, groups) -> BN -> act -> conv1x1(4x) -> BN, + shortcut, act.

  Inner width = filters * base_width / 64 * groups (ResNeXt, Wide ResNet).
  """
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x, train: bool = False):
    width = int(self.filters * (self.base_width / 64.0)) * self.groups
    blur = self.blur is not None and self.strides > 1
    y = self.act_inside(self.norm(name="bn1")(self.conv(width, (1, 1), padding=0, name="conv1")(x)))
    y = self.conv(width, (3, 3), 1 if blur else self.strides, padding=1, feature_group_count=self.groups,
                  name="conv2")(y)
    y = self.act_inside(self.norm(name="bn2")(y))
    if blur:
      y = self.blur(stride=self.strides)(y)
    y = self.conv(self.filters * 4, (1, 1), padding=0, name="conv3")(y)
    y = self.norm(name="bn3", scale_init=_last_gamma(self.zero_init_last))(y)
    return self.act(_shortcut(self, x) + _residual(self, y, train))


def _last_gamma(zero: bool):
  return nn.initializers.zeros if zero else nn.initializers.ones


def _shortcut(block, x):
  if not block.shortcut:
    return 0.0
  out = block.filters * block.expansion
  if block.strides == 1 and x.shape[-1] == out:
    return x
  return Downsample(out, block.strides, block.conv, block.norm, block.avg_down, block.blur, name="downsample")(x)


def _residual(block, y, train):
  if block.attention is not None:
    y = block.attention(name="attention")(y)
  return block.drop_path(rate=block.drop_path_rate, name="drop_path")(y, train)


class ResNet(nn.Module):
  """torchvision ResNet; see the module docstring for the options."""
  stage_sizes: Sequence[int]
  block: ModuleDef
  num_classes: int = 1000
  width: int = 64  # width_per_group; 128 for Wide ResNet-50-2
  groups: int = 1  # ResNeXt cardinality
  dtype: Any = jnp.float32
  act: Callable = relu
  stem: str = "classic"  # 7x7/2 conv; 'deep' = three 3x3 convs (stem_width, stem_width, 64) of ResNet-C/D;
  # 'cifar' = one 3x3/1 conv and no pool (kuangliu/pytorch-cifar's ResNet-18: 32x32 reaches the last stage at 4x4)
  stem_width: int = 64
  stem_pool: str = "max"  # 'conv': ResNet-RS replaces the max pool by a 3x3/2 conv + BN + act
  avg_down: bool = False  # ResNet-D: AvgPool(2) then 1x1 conv on the downsampling shortcut
  attention: ModuleDef | None = None  # per block, on the residual before the sum (SE); takes a dtype field
  stage_attention: ModuleDef | None = None  # after every stage but the last (BAM); dtype field, (x, train) call
  blur_filter_size: int | None = None  # anti-aliased (Zhang 2019): BlurPool of this size at every downsampling
  drop_path_rate: float = 0.0
  stochastic_depth: str = "drop_path"  # 'drop_path': linspace(0, rate); 'huang': (l / L) * rate, rate = 1 - p_L
  drop_rate: float = 0.0  # dropout before the classifier
  zero_init_last: bool = False  # zero gamma in each block's last BN (Goyal et al.), off as in torchvision
  shortcut: bool = True  # False: a plain network (He et al. 2015 Sec. 4.1), every block without its shortcut
  kernel_init: Any = None  # a name (archs/layers/initializers.py) for every conv and the fc; None: torchvision's
  norm: str = "batch"  # or layer, instance, group[:G] (archs/layers/norms.py)

  @nn.compact
  def __call__(self, x, *, train: bool = False, act_lambda=None, return_features: bool = False):
    self._check()
    init = init_from_spec(self.kernel_init)
    conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype, kernel_init=init or conv_init)
    norm = make_norm(self.norm, train, self.dtype)
    blur = functools.partial(BlurPool, self.blur_filter_size) if self.blur_filter_size else None
    attention = functools.partial(self.attention, dtype=self.dtype) if self.attention else None
    x = self._stem(x, conv, norm, blur)

    num_blocks = sum(self.stage_sizes)
    if self.stochastic_depth == "huang":
      rates = linear_decay_rates(self.drop_path_rate, num_blocks)
    else:
      rates = np.linspace(0.0, self.drop_path_rate, num_blocks).tolist()
    stages = []
    for i, depth in enumerate(self.stage_sizes):
      for j in range(depth):
        x = self.block(
            filters=64 * 2**i, strides=2 if i > 0 and j == 0 else 1, conv=conv, norm=norm, act=self.act,
            groups=self.groups, base_width=self.width, attention=attention, blur=blur, avg_down=self.avg_down,
            drop_path=STOCHASTIC_DEPTH[self.stochastic_depth], drop_path_rate=rates.pop(0),
            zero_init_last=self.zero_init_last, shortcut=self.shortcut, inner_act=deep_trained(self.act, act_lambda),
            name=f"layer{i + 1}_{j}")(x, train)
      if self.stage_attention is not None and i < len(self.stage_sizes) - 1:
        x = self.stage_attention(dtype=self.dtype, name=f"stage_attention{i + 1}")(x, train)
      stages.append(x)

    pre_logits = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.drop_rate, deterministic=not train)(pre_logits)
    fc_init = {"kernel_init": init} if init else {}
    logits = torch_dense(self.num_classes, pre_logits.shape[-1], dtype=self.dtype, name="fc", **fc_init)(x)
    logits = logits.astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)

  def _stem(self, x, conv, norm, blur):
    if self.stem == "cifar":
      return self.act(norm(name="bn1")(conv(64, (3, 3), 1, padding=1, name="conv1")(x)))
    if self.stem == "deep":
      for k, features in enumerate((self.stem_width, self.stem_width, 64)):
        x = conv(features, (3, 3), 2 if k == 0 else 1, padding=1, name=f"stem_conv{k + 1}")(x)
        x = self.act(norm(name=f"stem_bn{k + 1}")(x))
    else:
      x = conv(64, (7, 7), 2, padding=3, name="conv1")(x)
      x = self.act(norm(name="bn1")(x))
    if self.stem_pool == "conv":
      x = conv(64, (3, 3), 1 if blur else 2, padding=1, name="stem_pool_conv")(x)
      x = blur()(x) if blur else x
      return self.act(norm(name="stem_pool_bn")(x))
    if blur:  # antialiased-cnns: MaxPool(2, stride 1) + BlurPool(stride 2)
      return blur()(nn.max_pool(x, (2, 2), (1, 1)))
    return nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))

  def _check(self):
    for name, value, accepted in (("stem", self.stem, STEMS), ("stem_pool", self.stem_pool, STEM_POOLS),
                                  ("stochastic_depth", self.stochastic_depth, tuple(STOCHASTIC_DEPTH))):
      if value not in accepted:
        raise ValueError(f"unknown ResNet {name} {value!r}; accepted: {', '.join(accepted)}")


def _register(name, **config):
  register_model(functools.partial(ResNet, **config), name=name)


# torchvision's variants.
_register("resnet18", stage_sizes=(2, 2, 2, 2), block=BasicBlock)
_register("resnet34", stage_sizes=(3, 4, 6, 3), block=BasicBlock)
_register("resnet50", stage_sizes=(3, 4, 6, 3), block=Bottleneck)
_register("resnet101", stage_sizes=(3, 4, 23, 3), block=Bottleneck)
_register("resnet152", stage_sizes=(3, 8, 36, 3), block=Bottleneck)
_register("resnext50_32x4d", stage_sizes=(3, 4, 6, 3), block=Bottleneck, groups=32, width=4)
_register("resnext101_32x8d", stage_sizes=(3, 4, 23, 3), block=Bottleneck, groups=32, width=8)
_register("wide_resnet50_2", stage_sizes=(3, 4, 6, 3), block=Bottleneck, width=128)
_register("wide_resnet101_2", stage_sizes=(3, 4, 23, 3), block=Bottleneck, width=128)
