"""Attention a model computes for its inputs: BAM's attention maps and the Transformers' attention weights per head.

- `bam_maps`: for every BAM module (archs/layers/bam.py; the bam_resnet models put one after each of the first
  three stages), its channel branch Mc(F) (B, C), its spatial branch Ms(F) (B, H, W) and the attention
  M(F) = sigmoid(Mc + Ms) (B, H, W, C) (the paper's eq. 1-2; sigmoid(Mc * Ms) for combine='product'), so that the
  module's output is F * (1 + M(F)). The branches are read from the outputs of their last layers
  (`nn.intercept_methods`), so the model needs no change.
- `attention_weights`: softmax(Q K^T / sqrt(d) + bias) of every `MultiHeadAttention` call (ViT blocks, Swin's
  window attention, the Transformer's encoder, decoder and cross attention, the LM), (B', heads, Lq, Lk), each row
  summing to 1; B' is the batch, except for Swin, whose window attention runs on batch x windows (window-major
  within each image). They are the 'intermediates' the layer sows outside init.
Models run in eval mode (`train=False`); keyword arguments are passed to `__call__`.
"""
from __future__ import annotations

import flax.linen as nn
import jax

from archs.analysis.features import _path
from archs.layers.bam import BAM


def bam_maps(model, variables, x, **kwargs) -> dict[str, dict[str, jax.Array]]:
  """{BAM module path: {'channel': Mc (B, C), 'spatial': Ms (B, H, W), 'attention': M (B, H, W, C)}}, call order."""
  combine = {}

  def record(next_fun, args, kw, context):
    out = next_fun(*args, **kw)
    module, parent = context.module, context.module.parent
    if context.method_name != "__call__":
      return out
    if isinstance(module, BAM):
      combine[_path(module)] = module.combine
    elif isinstance(parent, BAM) and module.name in ("channel_fc2", "spatial_final"):
      outputs.setdefault(_path(parent), {})[module.name] = out
    return out

  outputs = {}

  def branches(variables, x):
    with nn.intercept_methods(record):
      model.apply(variables, x, train=False, **kwargs)
    return outputs
  found = jax.jit(branches)(variables, x)  # one program: eager op-by-op dispatch of a ResNet is slow
  maps = {}
  for path in combine:
    mc, ms = found[path]["channel_fc2"], found[path]["spatial_final"][..., 0]
    logits = mc[:, None, None, :] + ms[..., None] if combine[path] == "sum" else mc[:, None, None, :] * ms[..., None]
    maps[path] = {"channel": mc, "spatial": ms, "attention": jax.nn.sigmoid(logits)}
  return maps


def attention_weights(model, variables, *inputs, **kwargs) -> dict[str, jax.Array]:
  """{attention module path: weights (B', heads, Lq, Lk)} of every MultiHeadAttention call, in call order (a
  module called twice: its first call)."""
  paths = []

  def weights(variables, *inputs):
    _, state = model.apply(variables, *inputs, train=False, mutable=["intermediates"], **kwargs)
    found = []

    def walk(tree, names):  # dicts in insertion order, which is call order (jit's outputs would be sorted)
      for key, value in tree.items():
        if key == "attention_weights":
          paths.append("/".join(names))
          found.append(value[0])
        elif hasattr(value, "items"):
          walk(value, [*names, key])
    walk(state.get("intermediates", {}), [])
    return found
  found = jax.jit(weights)(variables, *inputs)  # one program, not op-by-op dispatch
  return dict(zip(paths, found))
