"""The normalisations a model can choose by name (`norm`): batch, layer, instance and group (Wu & He 2018, Fig. 2).

For a (B, H, W, C) map, each normalises x to (x - mean) / sqrt(var + eps), then a learned per-channel scale and
bias, with the mean and variance taken over:
- batch: (B, H, W) per channel; running statistics at inference (PyTorch's momentum 0.1, eps 1e-5);
- layer: (H, W, C) per example (Wu & He's LN for ConvNets: GroupNorm with one group);
- instance: (H, W) per example and channel (GroupNorm with one channel per group; Ulyanov et al. 2016 with
  the affine of torch's InstanceNorm2d(affine=True));
- group: (H, W, C/G) per example and group of C/G channels, G = 32 (the paper's default); 'group:G' sets G
  (the CIFAR ResNets' 16-channel stage needs G <= 16).
Only batch norm keeps running statistics ('batch_stats'); the other three behave the same at train and test.
On a (B, F) feature vector (the MLP) layer norm is the usual LayerNorm over F; instance norm would normalise
each scalar alone (to zero) and is refused.
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.batch_norm import torch_batch_norm

NORMS = ("batch", "layer", "instance", "group[:G]")


def make_norm(kind: str, train: bool, dtype: Any = jnp.float32, *, epsilon: float = 1e-5):
  """The norm layer `kind` as a partial to call with `name=` (and optionally `scale_init=`), like torch_batch_norm."""
  if kind == "batch":
    return torch_batch_norm(train, dtype, epsilon)
  if kind == "layer":
    return functools.partial(nn.GroupNorm, num_groups=1, epsilon=epsilon, dtype=dtype)
  if kind == "instance":
    return functools.partial(nn.GroupNorm, num_groups=None, group_size=1, epsilon=epsilon, dtype=dtype)
  name, _, groups = str(kind).partition(":")
  if name == "group" and (groups == "" or (groups.isdigit() and int(groups) > 0)):
    return functools.partial(GroupNorm, num_groups=int(groups or 32), epsilon=epsilon, dtype=dtype)
  raise ValueError(f"norm {kind!r}; accepted: {', '.join(NORMS)}")


class GroupNorm(nn.GroupNorm):
  """nn.GroupNorm with a one-line error when the channels do not split into `num_groups` groups."""

  def __call__(self, x, *args, **kwargs):
    if self.num_groups and x.shape[-1] % self.num_groups:
      raise ValueError(f"group norm: {x.shape[-1]} channels do not split into num_groups={self.num_groups}; "
                       f"accepted: a divisor of the channel count")
    return super().__call__(x, *args, **kwargs)
