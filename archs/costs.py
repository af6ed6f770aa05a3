"""What a model costs: parameters, multiply-accumulates, XLA's FLOPs and activation memory of one forward pass.

Nothing is computed on arrays: the forward pass is traced to a jaxpr (shapes only) and lowered, never compiled.
- `macs`: multiply-accumulates of every convolution and matrix product (`conv_general_dilated`, `dot_general`),
  counted exactly from the jaxpr, scan bodies times their length. This is the figure papers publish ("FLOPs" in
  many of them, e.g. torchvision's and VanillaNet's tables, are these MACs). Elementwise work, FFTs (TNN) and
  gathers (GCN's message passing) are not in it.
- `flops`: XLA's own estimate (`jax.jit(f).lower(...).cost_analysis()`): every operation, about 2 x MACs plus
  elementwise work, of the unoptimised program.
- `activation_bytes`: bytes of every layer output (convolutions, matrix products, pooling), the convention of
  the "VGG-16 needs ~96 MB per image forward" figure; ReLUs and norms are assumed in place.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from archs.registry import create_model

# Default input of every model, batch 1, as (shape, dtype) per positional input (first matching pattern wins).
_TOKENS_128 = (((1, 128), "int32"),)
_TOKENS_512 = (((1, 512), "int32"),)
DEFAULT_INPUTS: dict[str, tuple] = {
    "lenet5": (((1, 32, 32, 1), "float32"),),
    "alexnet*": (((1, 224, 224, 3), "float32"),),
    "wide_resnet28_10": (((1, 32, 32, 3), "float32"),),
    "wide_resnet40_*": (((1, 32, 32, 3), "float32"),),
    "wide_resnet16_8": (((1, 32, 32, 3), "float32"),),
    "resnet110_stochastic_depth": (((1, 32, 32, 3), "float32"),),
    "fractalnet20": (((1, 32, 32, 3), "float32"),),
    "hyper_resnet40_1": (((1, 32, 32, 3), "float32"),),
    "*_cifar": (((1, 32, 32, 3), "float32"),),  # the CIFAR ResNets by depth and their plain nets
    "transformer_tiny": (((1, 128), "int32"), ((1, 128), "int32")),
    "transformer_base": (((1, 512), "int32"), ((1, 512), "int32")),
    "retnet_tiny": _TOKENS_128, "tnn_tiny": _TOKENS_128, "lstm_tiny": _TOKENS_128,
    "transformer_lm_tiny": _TOKENS_128, "hyper_lstm*": _TOKENS_128,
    "gcn_tiny": (((34, 34), "float32"), ((156, 2), "int32")),  # karate club: one-hot nodes, 78 edges both ways
    "gcn": (((2708, 1433), "float32"), ((10556, 2), "int32")),  # Cora
    "lstm_seq2seq_*": (((1, 32), "int32"), ((1, 32), "int32")),  # source, target of 32 tokens
    "lstm_*": (((1, 35), "int32"),),  # Zaremba et al.: 35 unrolled steps
    "transformer_lm_base": _TOKENS_512, "retnet_base": _TOKENS_512, "tnn_base": _TOKENS_512,
    "pondernet_parity": (((1, 8), "float32"),),
    "pondernet_parity_paper": (((1, 64), "float32"),),
    "mlp": (((1, 784), "float32"),),
    "*_regression": (((1, 64), "float32"),), "perceptron": (((1, 64), "float32"),),
    "*": (((1, 224, 224, 3), "float32"),),  # ImageNet classifiers
}
@dataclasses.dataclass(frozen=True)
class Cost:
  """The cost of one forward pass (eval mode) on `inputs`; per example when the batch is 1."""
  inputs: tuple           # ((shape, dtype), ...)
  params: int             # trainable parameters
  param_bytes: int        # bytes of every variable (parameters and BatchNorm statistics)
  macs: int               # multiply-accumulates of convolutions and matrix products
  flops: float            # XLA's cost analysis of the unoptimised forward pass (nan if the backend gives none)
  activation_bytes: int   # bytes of the layer outputs (conv, matmul, pooling)


def default_inputs(name: str) -> tuple:
  """((shape, dtype), ...) of the registered model's default input, batch 1."""
  for pattern in DEFAULT_INPUTS:
    if fnmatch.fnmatchcase(name, pattern):
      return DEFAULT_INPUTS[pattern]
  raise KeyError(name)  # unreachable: "*" matches everything


def _as_specs(input_shape, model) -> tuple:
  """Normalises a shape, a tuple of shapes or ((shape, dtype), ...) to ((shape, dtype), ...)."""
  token_model = hasattr(model, "vocab_size")
  is_shape = lambda s: isinstance(s, (tuple, list)) and all(isinstance(d, (int, np.integer)) for d in s)
  if is_shape(input_shape):
    input_shape = (input_shape,)
  specs = []
  for item in input_shape:
    if is_shape(item):
      specs.append((tuple(item), "int32" if token_model else "float32"))
    elif isinstance(item, (tuple, list)) and len(item) == 2 and is_shape(item[0]):
      specs.append((tuple(item[0]), str(jnp.dtype(item[1]))))
    else:
      raise ValueError(f"input_shape {input_shape!r}; accepted: a shape such as (1, 224, 224, 3), a tuple of "
                       "shapes, or ((shape, dtype), ...)")
  return tuple(specs)


def _sub_jaxprs(eqn):
  for value in eqn.params.values():
    for v in (value if isinstance(value, (tuple, list)) else (value,)):
      if isinstance(v, jax.extend.core.ClosedJaxpr):
        yield v.jaxpr
      elif isinstance(v, jax.extend.core.Jaxpr):
        yield v


def _count(jaxpr) -> tuple[int, int]:
  """(MACs, layer-output bytes) of a jaxpr, recursing into calls; a scan body counts `length` times."""
  macs = act = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    out = eqn.outvars[0].aval if eqn.outvars else None
    if name == "conv_general_dilated":
      rhs = eqn.invars[1].aval.shape
      out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
      macs += math.prod(out.shape) * (math.prod(rhs) // out_features)
      act += out.size * out.dtype.itemsize
    elif name == "dot_general":
      (_, rhs_contract), (_, rhs_batch) = eqn.params["dimension_numbers"]
      rhs = eqn.invars[1].aval.shape
      free = [d for i, d in enumerate(rhs) if i not in rhs_contract and i not in rhs_batch]
      macs += math.prod(eqn.invars[0].aval.shape) * math.prod(free)
      act += out.size * out.dtype.itemsize
    elif name.startswith("reduce_window"):
      act += out.size * out.dtype.itemsize
    subs = list(_sub_jaxprs(eqn))
    if subs:
      counts = [_count(s) for s in subs]
      if name == "cond":  # one branch runs: the costliest
        sub_macs, sub_act = max(counts)
      else:
        sub_macs, sub_act = map(sum, zip(*counts))
      times = eqn.params.get("length", 1) if name == "scan" else 1
      macs += times * sub_macs
      act += times * sub_act
  return macs, act


def profile(model_or_name, input_shape=None, *, train: bool = False, xla: bool = True, **overrides) -> Cost:
  """Cost of `model.apply(variables, *inputs, train=train)`; `overrides` go to `create_model`.

  `input_shape`: a shape (one input, float32 or int32 tokens for models with a `vocab_size`), a tuple of
  shapes, or ((shape, dtype), ...); default: the registered model's `DEFAULT_INPUTS` entry.
  `xla=False` skips the lowering (`flops` is then nan), about half the time. XLA counts a scan body once.
  """
  if isinstance(model_or_name, str):
    model = create_model(model_or_name, **overrides)
    specs = _as_specs(input_shape if input_shape is not None else default_inputs(model_or_name), model)
  else:
    if overrides:
      raise ValueError(f"overrides {sorted(overrides)} need a model name, not a module")
    if input_shape is None:
      raise ValueError("input_shape is required for a module; accepted: a shape such as (1, 224, 224, 3)")
    model = model_or_name
    specs = _as_specs(input_shape, model)
  inputs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in specs]
  keys = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  variables = jax.eval_shape(lambda *x: model.init(keys, *x), *inputs)
  variables = {k: v for k, v in variables.items() if k not in ("aux_logits", "intermediates")}

  def forward(variables, *x):
    out = model.apply(variables, *x, train=train, rngs={"dropout": jax.random.key(1)},
                      mutable=["batch_stats"] if train else False)
    return out

  jaxpr = jax.make_jaxpr(forward)(variables, *inputs)
  macs, act = _count(jaxpr.jaxpr)
  analysis = jax.jit(forward).lower(variables, *inputs).cost_analysis() if xla else None
  if isinstance(analysis, (list, tuple)):  # older jax: one dict per computation
    analysis = analysis[0] if analysis else None
  flops = float(analysis.get("flops", math.nan)) if analysis else math.nan
  leaves = jax.tree.leaves(variables)
  return Cost(inputs=specs, params=sum(x.size for x in jax.tree.leaves(variables.get("params", {}))),
              param_bytes=sum(x.size * x.dtype.itemsize for x in leaves), macs=int(macs), flops=flops,
              activation_bytes=int(act))
