"""GoogLeNet / Inception v1 (Szegedy et al. 2014) with both auxiliary classifiers.

Two forms, chosen by `paper`:
- `paper=False` (default, registered `googlenet`): torchvision models/googlenet.py. Every conv is
  BasicConv2d = conv without bias + BatchNorm (eps 1e-3) + ReLU; the "5x5" branch is really a 3x3 conv
  (pytorch/vision issue #906); no LRN; aux heads pool adaptively to 4x4; dropout 0.2 before the classifier.
- `paper=True` (registered `googlenet_paper`): Table 1 of the paper: biased convs + ReLU, no BatchNorm,
  true 5x5 branch, LRN after pool1 and after conv3, aux heads pool 5x5/3 (14x14 -> 4x4), dropout 0.4.

`naive_inception=True` replaces every module by the paper's naive version (Fig. 2a): 1x1, 3x3 and 5x5 convs and a
3x3 max pool side by side, without the 1x1 reductions and the pool projection, so each module's output widens by
its whole input (the pool branch passes it through) and the cost grows with it; the widths of Table 1's 1x1, 3x3
and 5x5 columns are kept.

Auxiliary classifiers after inception 4a and 4d: pool -> 1x1 conv 128 -> FC 1024 -> ReLU -> dropout 0.7
-> FC. With `aux_logits=True` their parameters exist (they are built at init whatever `train` is), and
in train mode the model calls `self.sow("aux_logits", "aux1"/"aux2", logits)`; the trainer adds
`aux_loss_weight` (0.3 in the paper) times their cross-entropy. Eval returns only the main logits.
"""
import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.conv_bn import ConvBN
from archs.layers.features import classifier_output
from archs.layers.lrn import local_response_norm
from archs.layers.torch_pool import adaptive_avg_pool, max_pool
from archs.registry import register_model

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of each Inception module (paper Table 1).
INCEPTION_WIDTHS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

# torchvision: trunc_normal(std=0.01, a=-2, b=2), i.e. in practice N(0, 0.01^2).
_init = nn.initializers.normal(0.01)


def _conv(paper: bool, dtype, features: int, kernel_size: int, padding: int = 0, stride: int = 1, name=None):
  return ConvBN(features, kernel_size, stride, padding, use_bn=not paper, bn_eps=1e-3,
                kernel_init=_init, dtype=dtype, name=name)


class Inception(nn.Module):
  widths: tuple[int, ...]
  paper: bool = False
  naive: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    c1, c3r, c3, c5r, c5, pool_proj = self.widths
    conv = functools.partial(_conv, self.paper, self.dtype)
    k5 = 5 if self.paper else 3  # torchvision's "5x5" branch is a 3x3 conv.
    b1 = conv(c1, 1, name="branch1")(x, train)
    if self.naive:
      b2 = conv(c3, 3, padding=1, name="branch2")(x, train)
      b3 = conv(c5, k5, padding=k5 // 2, name="branch3")(x, train)
      return jnp.concatenate([b1, b2, b3, max_pool(x, 3, 1, padding=1, ceil_mode=True)], axis=-1)
    b2 = conv(c3r, 1, name="branch2_reduce")(x, train)
    b2 = conv(c3, 3, padding=1, name="branch2")(b2, train)
    b3 = conv(c5r, 1, name="branch3_reduce")(x, train)
    b3 = conv(c5, k5, padding=k5 // 2, name="branch3")(b3, train)
    b4 = max_pool(x, 3, 1, padding=1, ceil_mode=True)
    b4 = conv(pool_proj, 1, name="branch4")(b4, train)
    return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class InceptionAux(nn.Module):
  num_classes: int = 1000
  paper: bool = False
  drop_rate: float = 0.7
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.avg_pool(x, (5, 5), (3, 3)) if self.paper else adaptive_avg_pool(x, 4)
    x = _conv(self.paper, self.dtype, 128, 1, name="conv")(x, train)
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(1024, kernel_init=_init, dtype=self.dtype, name="fc1")(x))
    x = nn.Dropout(self.drop_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, kernel_init=_init, dtype=self.dtype, name="fc2")(x).astype(jnp.float32)


class GoogLeNet(nn.Module):
  num_classes: int = 1000
  aux_logits: bool = True
  paper: bool = False
  drop_rate: float | None = None  # None: 0.4 (paper) or 0.2 (torchvision)
  aux_drop_rate: float = 0.7
  naive_inception: bool = False
  # Weights option (archs.weights): torchvision's ImageNet checkpoints were trained on inputs normalised with
  # mean 0.5 / std 0.5, and its model maps ImageNet-normalised inputs to that first (transform_input=True).
  transform_input: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    conv = functools.partial(_conv, self.paper, self.dtype)
    inception = functools.partial(Inception, paper=self.paper, naive=self.naive_inception, dtype=self.dtype)
    if self.transform_input:
      mean, std = jnp.array([0.485, 0.456, 0.406]), jnp.array([0.229, 0.224, 0.225])
      x = x * (std / 0.5) + (mean - 0.5) / 0.5
    x = x.astype(self.dtype)
    x = conv(64, 7, padding=3, stride=2, name="conv1")(x, train)
    x = max_pool(x, 3, 2, ceil_mode=True)
    if self.paper:
      x = local_response_norm(x)
    x = conv(64, 1, name="conv2")(x, train)
    x = conv(192, 3, padding=1, name="conv3")(x, train)
    if self.paper:
      x = local_response_norm(x)
    stages = [x]
    x = max_pool(x, 3, 2, ceil_mode=True)
    for block in ("3a", "3b"):
      x = inception(INCEPTION_WIDTHS[block], name=f"inception{block}")(x, train)
    stages.append(x)
    x = max_pool(x, 3, 2, ceil_mode=True)
    # Aux heads are built at init so their parameters exist for training, and run only in training.
    run_aux = self.aux_logits and (train or self.is_initializing())
    for block in ("4a", "4b", "4c", "4d", "4e"):
      x = inception(INCEPTION_WIDTHS[block], name=f"inception{block}")(x, train)
      if run_aux and block in ("4a", "4d"):
        aux_name = "aux1" if block == "4a" else "aux2"
        aux = InceptionAux(self.num_classes, self.paper, self.aux_drop_rate, self.dtype,
                           name=f"{aux_name}_head")(x, train)
        if train and not self.is_initializing():
          self.sow("aux_logits", aux_name, aux)
    stages.append(x)
    x = max_pool(x, 2, 2, ceil_mode=True)
    for block in ("5a", "5b"):
      x = inception(INCEPTION_WIDTHS[block], name=f"inception{block}")(x, train)
    stages.append(x)
    pre_logits = jnp.mean(x, axis=(1, 2))
    drop_rate = self.drop_rate if self.drop_rate is not None else (0.4 if self.paper else 0.2)
    x = nn.Dropout(drop_rate, deterministic=not train)(pre_logits)
    logits = nn.Dense(self.num_classes, kernel_init=_init, dtype=self.dtype, name="fc")(x).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


register_model(GoogLeNet, name="googlenet")
register_model(functools.partial(GoogLeNet, paper=True), name="googlenet_paper")
