"""BatchNorm as PyTorch sets it up, the normalisation of every convnet here."""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


def torch_batch_norm(train: bool, dtype: Any = jnp.float32, epsilon: float = 1e-5, **kwargs):
  """`nn.BatchNorm` with PyTorch's defaults: momentum 0.1 (Flax's 0.9 is the weight of the old statistics) and
  eps 1e-5; batch statistics when `train`, the running ones otherwise. Returns a partial to call with `name=`."""
  return functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=epsilon, dtype=dtype,
                           **kwargs)


def fold_into_conv(kernel, bias, bn: dict, stats: dict, eps: float):
  """BN(conv(x)) as one conv (inference): W' = W gamma / sigma, b' = beta + (b - mu) gamma / sigma, sigma =
  sqrt(var + eps). BN normalises the conv's output channels, the kernel's last axis; `bias` None: no conv bias."""
  t = bn["scale"] / jnp.sqrt(stats["var"] + eps)
  return kernel * t, bn["bias"] + ((0.0 if bias is None else bias) - stats["mean"]) * t
