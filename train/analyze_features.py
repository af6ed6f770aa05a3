"""`python -m train.analyze features`: what a network looks at, for a checkpoint and a few eval examples.

Methods (`--method`, default: every one that applies to the model):
- maps: feature maps of `--layer`; grad-cam: Grad-CAM at `--cam_layer`; frequency: each layer's relative log
  amplitude at the highest frequency (Park & Kim 2022) -- convnets (models with NHWC feature maps);
- deconvnet, guided: the strongest activation of `--project_layer` (default: the logit of the predicted class)
  projected back to the pixels (Zeiler & Fergus 2014; Springenberg et al. 2015), beside the plain gradient;
- bam: BAM's attention maps (the bam_resnet models);
- attention: the attention weights of each head at `--attention_layer` (ViT, Swin, the Transformers).
"""
from __future__ import annotations

import math
import os

import jax
import numpy as np

from archs.analysis import attention, features, projection
from train import analyze_plots as plots
from train import analyze_run, errors

CONVNET = ("maps", "grad-cam", "frequency", "deconvnet", "guided")
METHODS = (*CONVNET, "bam", "attention")


def applicable(run, inputs, shapes) -> list[str]:
  found = list(CONVNET) if shapes else []
  if shapes and jax.eval_shape(lambda v, x: attention.bam_maps(run.model, v, x, **_kwargs(run)), run.variables,
                               inputs[0][:1]):
    found.append("bam")
  if jax.eval_shape(lambda v, *a: attention.attention_weights(run.model, v, *a, **_kwargs(run)), run.variables,
                    *(i[:1] for i in inputs)):
    found.append("attention")
  return found


def _kwargs(run) -> dict:
  return {k: np.asarray(v) for k, v in run.scheduled_args.items()}


def _centred(p):
  """A projection shown as ZF and Springenberg do: 0 is mid-grey, scaled by the largest magnitude per image."""
  scale = np.abs(p).max(axis=tuple(range(1, p.ndim)), keepdims=True)
  return np.clip(0.5 + 0.5 * p / np.where(scale > 0, scale, 1), 0, 1)


def run_features(a) -> None:
  run = analyze_run.load(a.workdir, a.step)
  batch = analyze_run.batch(run.eval_source, a.images)
  inputs = run.task.init_inputs(batch)
  x, kw = inputs[0], _kwargs(run)
  shapes = features.layer_shapes(run.model, run.variables, x[:1], **kw) if x.ndim == 4 and len(inputs) == 1 else {}
  usable = applicable(run, inputs, shapes)
  methods = a.method or usable
  for m in methods:
    if m not in usable:
      raise errors.UserError(f"--method {m} does not apply to {run.config.model}; accepted: {', '.join(usable)}")
  out, data, figs = plots.out_dir(a.workdir), {}, []
  labels = batch.get("label")
  if set(methods) & set(CONVNET):
    figs += _convnet(a, run, x, kw, shapes, methods, labels, out, data)
  if "bam" in methods:
    figs += _bam(run, x, kw, labels, out, data)
  if "attention" in methods:
    figs += _attention(a, run, inputs, kw, out, data)
  np.savez(os.path.join(out, "features.npz"), **data)
  print(f"features ({', '.join(methods)}) at step {run.step}; wrote {', '.join(figs)}")


def _layer(flag, value, default, shapes, model_name):
  value = value or default
  if value not in shapes:
    raise errors.UserError(f"{flag} {value!r} is not a 4-D layer of {model_name}; accepted: {', '.join(shapes)}")
  return value


def _convnet(a, run, x, kw, shapes, methods, labels, out, data) -> list[str]:
  names = list(shapes)
  spatial = [n for n in names if min(shapes[n][1:3]) >= 2] or names  # a 1x1 map has no picture, no spectrum
  safe = lambda s: s.replace("/", ".")
  figs = []
  if "maps" in methods:
    layer = _layer("--layer", a.layer, spatial[0], shapes, run.config.model)
    fmap = np.asarray(features.feature_map(run.model, run.variables, x, layer, **kw))
    data["feature_map"] = fmap
    channels = np.moveaxis(fmap[0, ..., :a.channels], -1, 0)
    figs.append(plots.image_grid(channels, os.path.join(out, f"features_{safe(layer)}.png"),
                                 f"{layer}: first {len(channels)} channels of image 0", cmap="viridis"))
  if "grad-cam" in methods:
    cam_layer = _layer("--cam_layer", a.cam_layer, spatial[-1], shapes, run.config.model)
    cams, predicted = features.grad_cam(run.model, run.variables, x, cam_layer, **kw)
    cams_up = np.asarray(jax.image.resize(cams, (len(x), *x.shape[1:3]), "bilinear")).clip(0, 1)
    data.update(grad_cam=cams, predicted=predicted)
    titles = [f"{l}/{p}" for l, p in zip(labels, predicted)] if labels is not None else None
    figs.append(plots.image_grid(x, os.path.join(out, f"gradcam_{safe(cam_layer)}.png"),
                                 f"Grad-CAM at {cam_layer} (label/predicted)", overlays=cams_up, labels=titles))
  if "frequency" in methods:
    every = features.feature_maps(run.model, run.variables, x, spatial, **kw)
    high = np.array([features.relative_log_amplitude(f)[-1] for f in every.values()])
    data.update(layer_names=np.array(spatial), high_frequency=high)
    figs.append(plots.line(np.arange(len(spatial)), {"high frequency": high}, os.path.join(out, "frequency.png"),
                           "layer (call order, maps of 2x2 and larger)", "relative log amplitude at (pi, pi)",
                           f"{run.config.model}: Fourier analysis of feature maps"))
  rules = [r for r in ("deconvnet", "guided") if r in methods]
  if rules:
    layer = a.project_layer and _layer("--project_layer", a.project_layer, None, shapes, run.config.model)
    rows = [("input", x, None, False)]
    for rule in ("gradient", *rules):
      p, targets = projection.project(run.model, run.variables, x, layer, rule, a.channel, **kw)
      data[f"projection_{rule}"] = p
      rows.append((rule, _centred(p), None, True))
    data.update(projection_channel=targets["channel"], projection_position=targets["position"])
    fn = lambda v: projection._target_fn(run.model, run.variables, layer, kw)(v)
    relus = projection.count_relus(fn, x[:1])
    what = f"{layer}, strongest channel" if layer else "logit of the predicted class"
    name = f"projection_{safe(layer) if layer else 'logits'}.png"
    figs.append(plots.image_rows(rows, os.path.join(out, name), f"{what} projected to the pixels ({relus} ReLUs "
                                 "take the rule; grey = 0)", [f"{'ch' if layer else 'class'} {c}" for c in targets["channel"]]))
  return figs


def _bam(run, x, kw, labels, out, data) -> list[str]:
  maps = attention.bam_maps(run.model, run.variables, x, **kw)
  rows = [("input", x, None, False)]
  for path, m in maps.items():
    mean = np.asarray(m["attention"]).mean(-1)  # the 3-D map averaged over channels
    data[f"bam_{path.replace('/', '.')}"] = np.asarray(m["attention"])
    up = np.asarray(jax.image.resize(mean, (len(x), *x.shape[1:3]), "bilinear"))
    lo, hi = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
    rows.append((f"{path} {mean.min():.2f}..{mean.max():.2f}", x, (up - lo) / np.maximum(hi - lo, 1e-8), False))
  titles = [str(l) for l in labels] if labels is not None else None
  return [plots.image_rows(rows, os.path.join(out, "bam_attention.png"),
                           f"{run.config.model}: BAM attention, channel mean (range per row; heat per image)", titles)]


def _attention(a, run, inputs, kw, out, data) -> list[str]:
  weights = attention.attention_weights(run.model, run.variables, *inputs, **kw)
  paths = list(weights)
  path = a.attention_layer or paths[-1]
  if path not in weights:
    raise errors.UserError(f"--attention_layer {path!r} is not an attention module of {run.config.model}; "
                           f"accepted: {', '.join(paths)}")
  w = np.asarray(weights[path])
  data["attention_weights"] = w
  heads = [(f"head {h}", w[0, h]) for h in range(w.shape[1])]
  figs = [plots.matrices(heads, os.path.join(out, "attention_heads.png"),
                         f"{path}: attention of each head (row = query, column = key; first "
                         f"{'window' if len(w) != len(inputs[0]) else 'example'})")]
  x = inputs[0]
  grid = math.isqrt(w.shape[-1] - 1)
  if x.ndim == 4 and len(w) == len(x) and grid * grid == w.shape[-1] - 1:  # a class token and a square patch grid
    cls = w[:, :, 0, 1:].reshape(len(x), w.shape[1], grid, grid)
    up = np.asarray(jax.image.resize(cls, (*cls.shape[:2], *x.shape[1:3]), "bilinear"))
    up = up / np.maximum(up.max(axis=(2, 3), keepdims=True), 1e-12)
    rows = [(f"head {h}", x, up[:, h], False) for h in range(w.shape[1])]
    figs.append(plots.image_rows([("input", x, None, False), *rows], os.path.join(out, "attention_class_token.png"),
                                 f"{path}: the class token's attention to the patches, per head"))
  return figs
