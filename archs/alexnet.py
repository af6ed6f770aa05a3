"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) and ZFNet (Zeiler & Fergus 2013).

Conv -> ReLU [-> LRN] [-> 3x3/2 max-pool] five times, then FC6, FC7 (ReLU, dropout 0.5) and FC8.
Reference code: osmr/imgclsmob pytorchcv alexnet.py / zfnet.py (counts 62,378,344 / 62,357,608).
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.features import classifier_output
from archs.layers.initializers import kernel_init as init_from_spec
from archs.layers.lrn import local_response_norm
from archs.layers.torch_pool import max_pool
from archs.registry import register_model


class AlexNet(nn.Module):
  """AlexNet-style network; ZFNet is the same network with other kernels and strides.

  Input size: the paper says 224x224, but conv1 (11x11, stride 4, no padding) needs 227 to give its
  55x55 maps. imgclsmob feeds 224 and uses ceil-mode pooling (54 -> 27 -> 13 -> 6); ceil-mode pooling
  (default) gives 6x6x256 before FC6 for both 224 and 227 inputs, so the counts hold for either.
  `pool_ceil_mode=False` is the paper at 227 (55 -> 27 -> 13 -> 6).

  `groups`: 2 for conv2/4/5 is the paper's two-GPU towers (conv3 and the FC layers see both towers).
  LRN (k=2, n=5, alpha=1e-4, beta=0.75) follows the ReLU of conv1 and conv2; by default it uses the
  paper's alpha, `lrn_alpha_over_size=True` is torch's LocalResponseNorm (alpha / n).

  `kernel_init` (a name, archs/layers/initializers.py) sets every conv and dense kernel's init; the default is
  flax's lecun_normal (the paper: N(0, 0.01^2) for all layers, `kernel_init='normal:0.01'`).
  """
  num_classes: int = 1000
  widths: Sequence[int] = (96, 256, 384, 384, 256)
  kernel_sizes: Sequence[int] = (11, 5, 3, 3, 3)
  strides: Sequence[int] = (4, 1, 1, 1, 1)
  paddings: Sequence[int] = (0, 2, 1, 1, 1)
  groups: Sequence[int] = (1, 1, 1, 1, 1)
  lrn_after: Sequence[bool] = (True, True, False, False, False)
  pool_after: Sequence[bool] = (True, True, False, False, True)
  pool_ceil_mode: bool = True
  lrn_alpha_over_size: bool = False
  hidden: int = 4096
  drop_rate: float = 0.5
  kernel_init: Any = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    init = init_from_spec(self.kernel_init)
    init = {"kernel_init": init} if init else {}
    x = x.astype(self.dtype)
    stages = []
    for i, (width, kernel, stride, pad, group) in enumerate(
        zip(self.widths, self.kernel_sizes, self.strides, self.paddings, self.groups)):
      x = nn.Conv(width, (kernel, kernel), (stride, stride), padding=[(pad, pad)] * 2,
                  feature_group_count=group, dtype=self.dtype, **init, name=f"conv{i + 1}")(x)
      x = relu(x)
      if self.lrn_after[i]:
        x = local_response_norm(x, alpha_over_size=self.lrn_alpha_over_size)
      if self.pool_after[i]:
        x = max_pool(x, 3, 2, ceil_mode=self.pool_ceil_mode)
        stages.append(x)
    if x.shape[1:3] != (6, 6):
      raise ValueError(f"{type(self).__name__} needs 6x6 maps before FC6 (224 or 227 input), got "
                       f"{x.shape[1:3]} from input of this size")
    x = x.reshape(x.shape[0], -1)
    for name in ("fc6", "fc7"):
      x = relu(nn.Dense(self.hidden, dtype=self.dtype, **init, name=name)(x))
      x = nn.Dropout(self.drop_rate, deterministic=not train)(x)
    pre_logits = x
    logits = nn.Dense(self.num_classes, dtype=self.dtype, **init, name="fc8")(x).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


register_model(AlexNet, name="alexnet")  # imgclsmob "alexnet": original widths in one tower.
register_model(functools.partial(AlexNet, groups=(1, 2, 1, 2, 2)), name="alexnet_grouped")
# ZFNet: 7x7/2 conv1 (padding 1) and 5x5/2 conv2 (no padding), as in imgclsmob zfnet.py.
# `zfnet` keeps AlexNet's widths 96-256-384-384-256 (the paper's Fig. 3 and imgclsmob); `zfnet_paper` is the
# paper's best single model (Table 2: layers 3, 4, 5 with 512, 1024, 512 maps), counts [computed].
ZFNET = dict(kernel_sizes=(7, 5, 3, 3, 3), strides=(2, 2, 1, 1, 1), paddings=(1, 0, 1, 1, 1))
register_model(functools.partial(AlexNet, **ZFNET), name="zfnet")
register_model(functools.partial(AlexNet, **ZFNET, widths=(96, 256, 512, 1024, 512)), name="zfnet_paper")
