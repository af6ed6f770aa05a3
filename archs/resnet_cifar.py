"""CIFAR ResNet (He et al. 2015 section 4.2) with stochastic depth (Huang et al. 2016).

As yueatsprograms/Stochastic_Depth: 6n + 2 layers, widths 16, 32, 64; convs WITH bias, each followed by BN;
option-A shortcuts (subsample by 2, zero-pad the new channels: no parameters); block output
ReLU(x + gate * f(x)), the gate drawn once per mini-batch with death rate (l / L) * (1 - p_L), p_L = 0.5;
at test f(x) is scaled by its survival probability. ResNet-110 has 1,732,010 params.
`stochastic_depth='drop_path'` swaps in the per-sample rescaled DropPath (rates linspace(0, drop_path_rate)).

The paper's CIFAR-10 networks by depth (Sec. 4.2, Table 6: 20, 32, 44, 56, 110, 1202 layers) are registered as
`resnet{depth}_cifar` with convs WITHOUT bias (akamaster/pytorch_resnet_cifar10, the usual re-implementation of
the paper: 269,722 params for ResNet-20, the paper's 0.27M), and the plain networks of the degradation
experiment (Fig. 6, `shortcut=False`) as `plain{depth}_cifar`.
As archs/resnet.py: `kernel_init` (every conv and the fc; None: kaiming-normal fan-out convs, flax's default fc),
`norm` (batch, layer, instance, group:G with G <= 16 for the 16-channel stage) and deep training (`act_lambda`).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import relu
from archs.layers.deep_training import deep_trained
from archs.layers.features import classifier_output
from archs.layers.initializers import kernel_init as init_from_spec
from archs.layers.norms import make_norm
from archs.layers.stochastic_depth import linear_decay_rates
from archs.registry import register_model
from archs.resnet import STOCHASTIC_DEPTH, BlockFields, conv_init

ModuleDef = Any


def option_a_shortcut(x, features: int, strides: int):
  """He et al.'s parameter-free shortcut: spatial subsampling, then zeros for the extra channels."""
  x = x[:, ::strides, ::strides, :]
  return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, features - x.shape[-1])))


class CifarBasicBlock(BlockFields):
  """conv3x3 -> BN -> act -> conv3x3 -> BN, gated, + option-A shortcut, act."""
  drop_path: ModuleDef = STOCHASTIC_DEPTH["huang"]
  drop_path_rate: float = 0.0
  shortcut: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = self.norm(name="bn1")(self.conv(self.filters, (3, 3), self.strides, padding=1, name="conv1")(x))
    y = self.act_inside(y)
    y = self.norm(name="bn2")(self.conv(self.filters, (3, 3), padding=1, name="conv2")(y))
    y = self.drop_path(rate=self.drop_path_rate, name="drop_path")(y, train)
    return self.act((option_a_shortcut(x, self.filters, self.strides) if self.shortcut else 0.0) + y)


class CifarResNet(nn.Module):
  """ResNet-(6n+2) for 32x32 inputs; drop_path_rate is 1 - p_L for Huang's stochastic depth."""
  depth: int = 110
  num_classes: int = 10
  drop_path_rate: float = 0.0
  stochastic_depth: str = "huang"
  dtype: Any = jnp.float32
  act: Callable = relu
  conv_bias: bool = True  # Stochastic-depth code's biased convs; False in the registered resnet{depth}_cifar
  shortcut: bool = True  # False: the plain network
  kernel_init: Any = None
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, *, train: bool = False, act_lambda=None, return_features: bool = False):
    if self.depth < 8 or (self.depth - 2) % 6:
      raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {self.depth}")
    if self.stochastic_depth not in STOCHASTIC_DEPTH:
      raise ValueError(f"unknown stochastic_depth {self.stochastic_depth!r}; accepted: {', '.join(STOCHASTIC_DEPTH)}")
    init = init_from_spec(self.kernel_init)
    conv = functools.partial(nn.Conv, use_bias=self.conv_bias, dtype=self.dtype, kernel_init=init or conv_init)
    norm = make_norm(self.norm, train, self.dtype)
    n = (self.depth - 2) // 6
    if self.stochastic_depth == "huang":
      rates = linear_decay_rates(self.drop_path_rate, 3 * n)
    else:
      rates = np.linspace(0.0, self.drop_path_rate, 3 * n).tolist()
    x = self.act(norm(name="bn1")(conv(16, (3, 3), padding=1, name="conv1")(x)))
    stages = []
    for i in range(3):
      for j in range(n):
        x = CifarBasicBlock(16 * 2**i, conv, norm, self.act, strides=2 if i > 0 and j == 0 else 1,
                            drop_path=STOCHASTIC_DEPTH[self.stochastic_depth], drop_path_rate=rates.pop(0),
                            shortcut=self.shortcut, inner_act=deep_trained(self.act, act_lambda),
                            name=f"layer{i + 1}_{j}")(x, train)
      stages.append(x)
    pre_logits = jnp.mean(x, axis=(1, 2))
    fc_init = {"kernel_init": init} if init else {}
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="fc", **fc_init)(pre_logits).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


register_model(functools.partial(CifarResNet, depth=110, drop_path_rate=0.5), name="resnet110_stochastic_depth")
for _depth in (20, 32, 44, 56, 110, 1202):
  register_model(functools.partial(CifarResNet, depth=_depth, conv_bias=False), name=f"resnet{_depth}_cifar")
for _depth in (20, 32, 44, 56, 110):
  register_model(functools.partial(CifarResNet, depth=_depth, conv_bias=False, shortcut=False),
                 name=f"plain{_depth}_cifar")
