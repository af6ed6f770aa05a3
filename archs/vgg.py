"""VGG (Simonyan & Zisserman 2014), configurations A, B, D, E, as torchvision builds them, and the paper's two
others (Table 1): A-LRN (`vgg_a_lrn`, A with LRN after the first conv's ReLU, Krizhevsky's parameters) and C
(`vgg_c`, B with a third, 1x1 conv in stages 3-5); counts [computed] from the table, as torchvision would build them.

Stacks of 3x3 convs (padding 1) with 2x2 max-pools, an adaptive average pool to 7x7, then
25088 -> 4096 -> 4096 -> classes with ReLU and dropout 0.5. The `_bn` variants put BatchNorm
(eps 1e-5) between each conv and its ReLU; `norm` ('batch', 'layer', 'instance', 'group', archs/layers/norms.py)
puts that normalisation there instead (its layers keep the names bn{s}_{i}), the comparison of Wu & He 2018.
`kernel_init` (a name, archs/layers/initializers.py) replaces torchvision's init of every conv and dense kernel.

Named features (for perceptual / style losses): `return_features=True` adds `named`, a dict with
`conv{s}_{i}` (the output of the i-th conv of stage s AFTER its ReLU, i.e. Gatys et al.'s relu{s}_{i}),
`pool1` ... `pool5`, and `fc6`, `fc7` (after ReLU, before dropout).
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import relu
from archs.layers.features import classifier_output
from archs.layers.initializers import kernel_init as init_from_spec
from archs.layers.lrn import local_response_norm
from archs.layers.norms import make_norm
from archs.layers.torch_pool import adaptive_avg_pool
from archs.registry import register_model

# Widths of the convs of each of the five stages (Table 1 of the paper).
VGG_STAGES = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "E": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
    # A (width, kernel) pair is a conv of another size: C's 1x1 convs.
    "C": ((64, 64), (128, 128), (256, 256, (256, 1)), (512, 512, (512, 1)), (512, 512, (512, 1))),
}

# torchvision init: kaiming-normal (fan_out, relu) convs, N(0, 0.01) linears, zero biases.
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_dense_init = nn.initializers.normal(0.01)


class VGG(nn.Module):
  num_classes: int = 1000
  stages: Sequence[Sequence[int]] = VGG_STAGES["D"]
  batch_norm: bool = False
  hidden: int = 4096
  drop_rate: float = 0.5
  pool_size: int = 7  # torchvision's AdaptiveAvgPool2d((7, 7)): any input >= 32x32 works.
  lrn_after: Sequence[str] = ()  # names of the convs whose ReLU is followed by LRN (A-LRN: ('conv1_1',))
  norm: str | None = None  # None: 'batch' if batch_norm else no normalisation
  kernel_init: Any = None  # None: torchvision's
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    kind = self.norm if self.norm is not None else ("batch" if self.batch_norm else None)
    norm = make_norm(kind, train, self.dtype) if kind else None
    conv_init = init_from_spec(self.kernel_init) or _conv_init
    dense_init = init_from_spec(self.kernel_init) or _dense_init
    x = x.astype(self.dtype)
    named, stage_maps = {}, []
    for s, widths in enumerate(self.stages, start=1):
      for i, width in enumerate(widths, start=1):
        width, k = width if isinstance(width, (tuple, list)) else (width, 3)
        x = nn.Conv(width, (k, k), padding=[(k // 2, k // 2)] * 2, use_bias=True, kernel_init=conv_init,
                    dtype=self.dtype, name=f"conv{s}_{i}")(x)
        if norm is not None:
          x = norm(name=f"bn{s}_{i}")(x)
        x = relu(x)
        if f"conv{s}_{i}" in self.lrn_after:
          x = local_response_norm(x)
        named[f"conv{s}_{i}"] = x
      x = nn.max_pool(x, (2, 2), (2, 2))
      named[f"pool{s}"] = x
      stage_maps.append(x)
    x = adaptive_avg_pool(x, self.pool_size)
    x = x.reshape(x.shape[0], -1)
    for name in ("fc6", "fc7"):
      x = relu(nn.Dense(self.hidden, kernel_init=dense_init, dtype=self.dtype, name=name)(x))
      named[name] = x
      x = nn.Dropout(self.drop_rate, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes, kernel_init=dense_init, dtype=self.dtype, name="fc8")(x)
    logits = logits.astype(jnp.float32)
    return classifier_output(logits, x, stage_maps, return_features, named=named)


for _depth, _cfg in ((11, "A"), (13, "B"), (16, "D"), (19, "E")):
  register_model(functools.partial(VGG, stages=VGG_STAGES[_cfg]), name=f"vgg{_depth}")
  register_model(functools.partial(VGG, stages=VGG_STAGES[_cfg], batch_norm=True), name=f"vgg{_depth}_bn")
register_model(functools.partial(VGG, stages=VGG_STAGES["A"], lrn_after=("conv1_1",)), name="vgg_a_lrn")
register_model(functools.partial(VGG, stages=VGG_STAGES["C"]), name="vgg_c")
