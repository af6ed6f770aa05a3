"""What a network looks at: feature maps of named layers, Grad-CAM, the frequency content of feature maps.

A layer is named by its module path, "/"-joined as in the parameter tree (e.g. "c3" in LeNet-5,
"stages_1/conv" in a nested model); `layer_shapes` lists every layer with a 4-D (NHWC) output. Models run in
eval mode (`train=False`, running BatchNorm statistics); keyword arguments (e.g. VanillaNet's act_lambda) are
passed to `__call__`.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _path(module) -> str:
  return "/".join(str(p) for p in module.scope.path)


def _logits(out):
  return out["logits"] if isinstance(out, dict) else out


def _intermediates(model, variables, x, select, **kwargs) -> dict:
  _, state = model.apply(variables, x, train=False, capture_intermediates=select, mutable=["intermediates"],
                         **kwargs)
  flat = jax.tree_util.tree_flatten_with_path(dict(state).get("intermediates", {}))[0]
  out = {}
  for keys, value in flat:  # keys end in '__call__', index into the tuple of calls
    names = [k.key for k in keys if isinstance(k, jax.tree_util.DictKey)]
    if names and names[-1] == "__call__":
      out.setdefault("/".join(names[:-1]), value)  # a module called twice: its first call
  return out


def layer_shapes(model, variables, x, **kwargs) -> dict[str, tuple]:
  """{path: output shape} of every module call whose output is a 4-D array (a feature map), in call order
  (a module called twice: its first call), except attention's per-head projections (DenseGeneral). Traced
  abstractly (`jax.eval_shape`), no compute."""
  order = {}

  def record(next_fun, args, kw, context):
    out = next_fun(*args, **kw)
    if (context.method_name == "__call__" and getattr(out, "ndim", 0) == 4
        and not isinstance(context.module, nn.DenseGeneral)):  # attention's (B, L, heads, depth) projections
      order.setdefault(_path(context.module), tuple(out.shape))
    return out

  def trace(v, x):
    with nn.intercept_methods(record):
      return model.apply(v, x, train=False, **kwargs)
  jax.eval_shape(trace, variables, x)
  order.pop("", None)  # the model itself
  return order


def feature_maps(model, variables, x, layers, **kwargs) -> dict[str, jax.Array]:
  """{layer: output} for each path in `layers`, from one forward pass."""
  wanted = set(layers)
  select = lambda mdl, method: method == "__call__" and _path(mdl) in wanted
  found = _intermediates(model, variables, x, select, **kwargs)
  missing = [layer for layer in layers if layer not in found]
  if missing:
    known = ", ".join(layer_shapes(model, variables, x[:1], **kwargs))
    raise ValueError(f"layer {missing[0]!r} is not a module of {type(model).__name__}; accepted: {known}")
  return {layer: found[layer] for layer in layers}


def feature_map(model, variables, x, layer: str, **kwargs) -> jax.Array:
  """The output of the layer at path `layer` for inputs x."""
  return feature_maps(model, variables, x, [layer], **kwargs)[layer]


def grad_cam(model, variables, x, layer: str, classes=None, **kwargs):
  """(cams (B, h, w) in [0, 1] at the layer's resolution, classes (B,)) (Selvaraju et al. 2017).

  The weight of channel c is the spatial mean of d logit[class] / d A_c; the map is ReLU(sum_c w_c A_c),
  divided by its maximum per image. `classes` defaults to the predicted ones. The gradient is taken by adding
  a zero array to the layer's output (`nn.intercept_methods`), so any named layer works without model changes.
  """
  activation = feature_map(model, variables, x, layer, **kwargs)
  if activation.ndim != 4:
    raise ValueError(f"layer {layer!r} has output shape {activation.shape}; accepted: a 4-D (NHWC) feature map")

  def logits_with(delta):
    def interceptor(next_fun, args, kw, context):
      out = next_fun(*args, **kw)
      if context.method_name == "__call__" and _path(context.module) == layer:
        out = out + delta
      return out
    with nn.intercept_methods(interceptor):
      return _logits(model.apply(variables, x, train=False, **kwargs))

  logits, vjp = jax.vjp(logits_with, jnp.zeros_like(activation))
  if classes is None:
    classes = jnp.argmax(logits, -1)
  classes = jnp.asarray(classes)
  (grads,) = vjp(jax.nn.one_hot(classes, logits.shape[-1], dtype=logits.dtype))
  weights = grads.mean(axis=(1, 2), keepdims=True)
  cam = jax.nn.relu((weights * activation).sum(-1))
  peak = cam.max(axis=(1, 2), keepdims=True)
  return np.asarray(jnp.where(peak > 0, cam / jnp.where(peak > 0, peak, 1), 0.0)), np.asarray(classes)


def relative_log_amplitude(feature_maps) -> np.ndarray:
  """Park & Kim 2022: log amplitude of the 2-D Fourier transform along the diagonal from frequency 0 to the
  highest (pi, pi), minus its value at 0; averaged over images and channels. (min(H, W) // 2 + 1,).

  The last entry is "the relative log amplitude of high-frequency components": higher = more high-pass.
  """
  f = np.asarray(feature_maps, np.float64)
  if f.ndim != 4:
    raise ValueError(f"feature maps of shape {f.shape}; accepted: (B, H, W, C)")
  amplitude = np.abs(np.fft.fft2(f, axes=(1, 2)))
  log_amp = np.log(amplitude + 1e-8).mean(axis=(0, 3))
  n = min(f.shape[1], f.shape[2]) // 2
  k = np.arange(n + 1)
  if n == 0:  # a 1x1 map has only frequency 0
    return np.zeros(1)
  diagonal = log_amp[k * f.shape[1] // (2 * n), k * f.shape[2] // (2 * n)]
  return diagonal - diagonal[0]
