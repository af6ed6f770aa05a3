"""VanillaNet (Chen et al. 2023, "VanillaNet: The Power of Minimalism in Deep Learning").

A plain stack: stem (4x4/4 patchify conv), one block per stride (1x1 convs, max pool, series-informed
activation), head (global average pool, 1x1 conv). Reference: huawei-noah/VanillaNet@6aaf731,
models/vanillanet.py (`deploy=False` is the train form, `deploy=True` the re-parameterised form).

Deep training (paper section 3.2): in the train form each of stem, block and head holds two convs with
`leaky_relu(x, act_lambda)` between them; `act_lambda` is scheduled from 0 (ReLU) to 1 (identity) by
the trainer and passed to `__call__` as a traced value. At act_lambda = 1 the two convs are linear in
sequence and `to_deploy` merges them (and folds every BatchNorm) into the deploy form.

`shortcut` (the paper's ablation of shortcuts, section 4.1: they do not help VanillaNet, whose limit is weak
non-linearity, not the identity mapping) adds each block's input to its output, before ('before_act') or after
('after_act') the block's activation. The block's input is max-pooled like the block and zero-padded to its width
(He et al.'s option A; the paper does not say how its shortcuts match the doubled widths): no parameters, so the
counts and `to_deploy` are unchanged.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import leaky_relu
from archs.layers.batch_norm import fold_into_conv, torch_batch_norm
from archs.layers.features import classifier_output
from archs.layers.series_activation import BN_EPS, SeriesActivation, fold_batch_norm
from archs.registry import register_model

SHORTCUTS = ("none", "before_act", "after_act")
_init = nn.initializers.normal(0.02)  # timm trunc_normal_(std=.02): truncation at +-2 never bites


def _conv(features, kernel=1, stride=1, padding=0, *, name, dtype):
  return nn.Conv(features, (kernel, kernel), (stride, stride), padding=padding, dtype=dtype,
                 kernel_init=_init, bias_init=nn.initializers.zeros, name=name)


def _bn(train, *, name, dtype):
  return torch_batch_norm(train, dtype, BN_EPS)(name=name)


def _deep_training_pair(x, mid, out, *, act_lambda, train, dtype, kernel=1, stride=1, padding=0,
                        second_bn=True):
  """conv1 -> BN -> leaky_relu(act_lambda) -> conv2 (1x1) -> [BN]: the train form of one deploy conv."""
  x = _bn(train, name="bn1", dtype=dtype)(_conv(mid, kernel, stride, padding, name="conv1", dtype=dtype)(x))
  # leaky_relu with slope lam is (1 - lam) ReLU(x) + lam x; lam cast so bf16 stays bf16.
  x = leaky_relu(x, jnp.asarray(act_lambda, x.dtype))
  x = _conv(out, name="conv2", dtype=dtype)(x)
  return _bn(train, name="bn2", dtype=dtype)(x) if second_bn else x


def adaptive_max_pool(x, size: int):
  """PyTorch AdaptiveMaxPool2d((size, size)) on NHWC: bin i spans floor(i*H/size) .. ceil((i+1)*H/size)."""
  for axis in (1, 2):
    length = x.shape[axis]
    starts = [(i * length) // size for i in range(size)]
    ends = [-((-(i + 1) * length) // size) for i in range(size)]
    width = max(e - s for s, e in zip(starts, ends))
    # Shorter bins repeat their last index: max is idempotent, so the result is exact.
    index = np.array([[min(s + k, e - 1) for k in range(width)] for s, e in zip(starts, ends)])
    x = jnp.take(x, index, axis=axis).max(axis=axis + 1)
  return x


class Stem(nn.Module):
  """conv4x4/stride -> BN; leaky_relu; conv1x1 -> BN -> act. Deploy: conv4x4/stride -> act."""
  dim: int
  stride: int = 4
  padding: int = 0
  act_num: int = 3
  deploy: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, act_lambda=1.0, train: bool = False):
    if self.deploy:
      x = _conv(self.dim, 4, self.stride, self.padding, name="conv", dtype=self.dtype)(x)
    else:
      x = _deep_training_pair(x, self.dim, self.dim, act_lambda=act_lambda, train=train, dtype=self.dtype,
                              kernel=4, stride=self.stride, padding=self.padding)
    return SeriesActivation(act_num=self.act_num, deploy=self.deploy, dtype=self.dtype, name="act")(x, train)


class Block(nn.Module):
  """conv1x1 -> BN; leaky_relu; conv1x1 -> BN; pool; act. Deploy: conv1x1 -> pool -> act.

  The pool comes before the activation (reference): identity at stride 1, else MaxPool(stride, stride),
  or AdaptiveMaxPool((ada_pool, ada_pool)) when ada_pool > 0.
  """
  dim_out: int
  stride: int = 2
  ada_pool: int = 0
  act_num: int = 3
  deploy: bool = False
  shortcut: str = "none"  # 'before_act' or 'after_act': the paper's ablation (module docstring)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, act_lambda=1.0, train: bool = False):
    inputs = x
    if self.deploy:
      x = _conv(self.dim_out, name="conv", dtype=self.dtype)(x)
    else:
      x = _deep_training_pair(x, x.shape[-1], self.dim_out, act_lambda=act_lambda, train=train,
                              dtype=self.dtype)
    x = self._pool(x)
    if self.shortcut == "before_act":
      x = x + self._matched(inputs)
    x = SeriesActivation(act_num=self.act_num, deploy=self.deploy, dtype=self.dtype, name="act")(x, train)
    return x + self._matched(inputs) if self.shortcut == "after_act" else x

  def _pool(self, x):
    if self.stride == 1:
      return x
    if self.ada_pool:
      return adaptive_max_pool(x, self.ada_pool)
    return nn.max_pool(x, (self.stride, self.stride), (self.stride, self.stride))

  def _matched(self, x):
    """The block's input at the block's output shape: pooled as the block, zero-padded to dim_out channels."""
    if x.shape[-1] > self.dim_out:
      raise ValueError(f"VanillaNet shortcut: a block narrows {x.shape[-1]} -> {self.dim_out} channels; "
                       f"accepted: blocks that keep or widen")
    x = self._pool(x)
    return jnp.pad(x, ((0, 0),) * 3 + ((0, self.dim_out - x.shape[-1]),))


class Head(nn.Module):
  """(pooled) -> dropout -> conv1x1 -> BN; leaky_relu; conv1x1. Deploy: dropout -> conv1x1."""
  num_classes: int
  drop_rate: float = 0.0
  deploy: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, act_lambda=1.0, train: bool = False):
    x = nn.Dropout(self.drop_rate, deterministic=not train)(x)
    if self.deploy:
      return _conv(self.num_classes, name="conv", dtype=self.dtype)(x)
    return _deep_training_pair(x, self.num_classes, self.num_classes, act_lambda=act_lambda, train=train,
                               dtype=self.dtype, second_bn=False)


class VanillaNet(nn.Module):
  """Stem, one Block per stride (dims[i] -> dims[i+1]), Head. Input NHWC, logits (B, num_classes).

  `width_multiplier` scales every width in `dims` (not in the reference; 1.0 is the reference model,
  smaller values give cheap models for tests and CPU runs with unchanged structure).
  """
  dims: Sequence[int] = (512, 1024, 2048, 4096)
  strides: Sequence[int] = (2, 2, 2)
  num_classes: int = 1000
  act_num: int = 3
  drop_rate: float = 0.0
  deploy: bool = False
  ada_pool: Sequence[int] | None = None  # per block; 0 = plain max pool
  stem_stride: int = 4   # the ada_pool variant uses 3 ...
  stem_padding: int = 0  # ... and 1 (224 -> 75x75)
  width_multiplier: float = 1.0
  shortcut: str = "none"  # 'before_act' / 'after_act': a shortcut around every block (module docstring)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, act_lambda=1.0, return_features: bool = False):
    if self.shortcut not in SHORTCUTS:
      raise ValueError(f"VanillaNet shortcut {self.shortcut!r}; accepted: {', '.join(SHORTCUTS)}")
    if len(self.dims) != len(self.strides) + 1:
      raise ValueError(f"dims needs len(strides) + 1 = {len(self.strides) + 1} widths, got {len(self.dims)}")
    if self.ada_pool is not None and len(self.ada_pool) != len(self.strides):
      raise ValueError(f"ada_pool needs one size per stride ({len(self.strides)}), got {len(self.ada_pool)}")
    if self.width_multiplier <= 0:
      raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier}")
    dims = [max(1, round(d * self.width_multiplier)) for d in self.dims]
    ada_pool = self.ada_pool or [0] * len(self.strides)
    common = dict(act_num=self.act_num, deploy=self.deploy, dtype=self.dtype)

    x = Stem(dims[0], self.stem_stride, self.stem_padding, **common, name="stem")(x, act_lambda, train)
    stages = [x]
    for i, (stride, ada) in enumerate(zip(self.strides, ada_pool)):
      x = Block(dims[i + 1], stride, ada, **common, shortcut=self.shortcut, name=f"stages_{i}")(
          x, act_lambda, train)
      stages.append(x)
    pooled = x.mean(axis=(1, 2), keepdims=True)
    logits = Head(self.num_classes, self.drop_rate, self.deploy, self.dtype, name="head")(
        pooled, act_lambda, train)
    logits = logits.reshape(x.shape[0], -1).astype(jnp.float32)
    # stages: the stem's output, then every block's (the reference counts the stem as a layer).
    return classifier_output(logits, pooled.reshape(x.shape[0], -1), stages, return_features)


# ---------------------------------------------------------------- train form -> deploy form (spec 1.5)

def _fold_conv_bn(conv, bn, stats):
  return fold_into_conv(conv["kernel"], conv["bias"], bn, stats, BN_EPS)


def _merge_pair(params, stats):
  """conv1 -> BN -> identity -> conv2 (1x1) -> [BN] as one conv: W = W1' W2', b = b1' W2' + b2'."""
  w1, b1 = _fold_conv_bn(params["conv1"], params["bn1"], stats["bn1"])
  conv2 = {"kernel": params["conv2"]["kernel"][0, 0], "bias": params["conv2"]["bias"]}
  w2, b2 = conv2["kernel"], conv2["bias"]
  if "bn2" in params:  # the head's second conv has no BN
    w2, b2 = _fold_conv_bn(conv2, params["bn2"], stats["bn2"])
  highest = jax.lax.Precision.HIGHEST  # TPU/GPU default matmul precision would lose digits here
  return {"kernel": jnp.einsum("hwim,mo->hwio", w1, w2, precision=highest),
          "bias": jnp.dot(b1, w2, precision=highest) + b2}


def _deploy_tree(params, stats):
  if not isinstance(params, dict):
    raise ValueError(f"to_deploy expects VanillaNet train-form variables, found a leaf {type(params)}")
  if "conv1" in params:  # stem, block or head: one conv (+ its activation)
    unit = {"conv": _merge_pair(params, stats)}
    if "act" in params:
      unit["act"] = fold_batch_norm(params["act"], stats["act"])
    return unit
  return {name: _deploy_tree(sub, stats.get(name, {})) for name, sub in params.items()}


def to_deploy(variables):
  """{'params', 'batch_stats'} of the train form -> {'params'} of the deploy form (exact at act_lambda 1).

  Walks the tree: every unit with conv1/bn1/conv2[/bn2] becomes one conv, every SeriesActivation's BN
  folds into its depthwise kernel. Pure; works for every variant and under jit.
  """
  if "params" not in variables or "batch_stats" not in variables:
    raise ValueError(f"to_deploy needs 'params' and 'batch_stats', got {sorted(variables)}")
  return {"params": _deploy_tree(_as_dict(variables["params"]), _as_dict(variables["batch_stats"]))}


def _as_dict(tree):
  """FrozenDict or dict -> nested plain dicts (leaves untouched)."""
  return {k: _as_dict(v) for k, v in tree.items()} if hasattr(tree, "items") else tree


# ---------------------------------------------------------------- variants (spec 1.6)

def _dims(*units, scale=4):
  """Widths in the reference's units of 128 * scale (scale 4; the x1_5 variants use 6)."""
  return tuple(128 * scale * u for u in units)


_V13_UNITS = (1, 1, 2, 4, 4, 4, 4, 4, 4, 4, 8, 8)
_V13_STRIDES = (1, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1)
_VARIANTS = {
    "vanillanet_5": dict(dims=_dims(1, 2, 4, 8), strides=(2, 2, 2)),
    "vanillanet_6": dict(dims=_dims(1, 2, 4, 8, 8), strides=(2, 2, 2, 1)),
    "vanillanet_7": dict(dims=_dims(1, 1, 2, 4, 8, 8), strides=(1, 2, 2, 2, 1)),
    "vanillanet_8": dict(dims=_dims(1, 1, 2, 4, 4, 8, 8), strides=(1, 2, 2, 1, 2, 1)),
    "vanillanet_9": dict(dims=_dims(1, 1, 2, 4, 4, 4, 8, 8), strides=(1, 2, 2, 1, 1, 2, 1)),
    "vanillanet_10": dict(dims=_dims(1, 1, 2, 4, 4, 4, 4, 8, 8), strides=(1, 2, 2, 1, 1, 1, 2, 1)),
    "vanillanet_11": dict(dims=_dims(1, 1, 2, 4, 4, 4, 4, 4, 8, 8), strides=(1, 2, 2, 1, 1, 1, 1, 2, 1)),
    "vanillanet_12": dict(dims=_dims(1, 1, 2, 4, 4, 4, 4, 4, 4, 8, 8), strides=(1, 2, 2, 1, 1, 1, 1, 1, 2, 1)),
    "vanillanet_13": dict(dims=_dims(*_V13_UNITS), strides=_V13_STRIDES),
    "vanillanet_13_x1_5": dict(dims=_dims(*_V13_UNITS, scale=6), strides=_V13_STRIDES),
    # Stem stride 3 pad 1 (224 -> 75), adaptive max pools to 38, 19 and 10.
    "vanillanet_13_x1_5_ada_pool": dict(dims=_dims(*_V13_UNITS, scale=6), strides=_V13_STRIDES,
                                        ada_pool=(0, 38, 19, 0, 0, 0, 0, 0, 0, 10, 0),
                                        stem_stride=3, stem_padding=1),
}
for _name, _hparams in _VARIANTS.items():
  register_model(functools.partial(VanillaNet, **_hparams), name=_name, to_deploy=to_deploy)
