"""Conv -> BatchNorm -> activation, the unit of GoogLeNet (torchvision BasicConv2d) and MobileNet."""
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.batch_norm import torch_batch_norm


class ConvBN(nn.Module):
  """Conv (torch-style symmetric integer padding) -> optional BatchNorm -> activation.

  With `use_bn=False` the conv gets a bias (the pre-BN networks: GoogLeNet as in the paper).
  BatchNorm: PyTorch momentum 0.1 == Flax momentum 0.9.
  """
  features: int
  kernel_size: int = 3
  stride: int = 1
  padding: int = 0
  groups: int = 1
  use_bn: bool = True
  bn_eps: float = 1e-5
  act: Callable | None = relu
  kernel_init: Callable = nn.initializers.kaiming_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(self.features, (self.kernel_size,) * 2, (self.stride,) * 2,
                padding=[(self.padding, self.padding)] * 2, feature_group_count=self.groups,
                use_bias=not self.use_bn, kernel_init=self.kernel_init, dtype=self.dtype, name="conv")(x)
    if self.use_bn:
      x = torch_batch_norm(train, self.dtype, self.bn_eps)(name="bn")(x)
    return self.act(x) if self.act is not None else x
