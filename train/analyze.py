"""Understanding a trained run: `python -m train.analyze COMMAND --workdir W [options]`.

Commands (each writes .npz data and PNG figures into W/analysis/, and prints what it measured):
  landscape  loss surface along filter-normalised random directions (2-D or 1-D), or the linear interpolation
             from the run's initial parameters (or --other W2's) to its final ones (Li et al. 2018)
  hessian    top Hessian eigenvalues (Lanczos), trace (Hutchinson) and eigenvalue density (SLQ)
  features   feature maps of a layer, Grad-CAM of a layer, the high-frequency amplitude of every layer
  curves     loss, accuracy, learning rate and every scheduled hyperparameter against step (metrics.jsonl)
  compare    accuracy against MACs per example, circle area = parameters, over several workdirs (--workdir
             W1 W2 ...); writes into --out
The model-only tools are in archs/analysis/; run directories and figures are here. Checkpoints are opened
read-only (nothing on disk changes), so a run may still be training.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

from archs.analysis import features, hessian, landscape
from train import analyze_plots as plots
from train import analyze_run, errors


def cmd_landscape(a) -> None:
  run = analyze_run.load(a.workdir)
  params, state = analyze_run.split(run.variables)
  fn = analyze_run.metrics_fn(run, state)
  data = analyze_run.batch(run.train_source, a.examples)
  out, name = plots.out_dir(a.workdir), f"landscape_{a.kind}"
  if a.kind == "interpolate":
    start = analyze_run.load(a.other).variables["params"] if a.other else run.init_variables()["params"]
    axis = np.linspace(-0.5, 1.5, a.points or 21, dtype=np.float32)
    values = landscape.interpolation(fn, start, params, axis, a.chunk, data)
    xlabel = "alpha: (1 - alpha) * start + alpha * final"
  else:
    dims = 2 if a.kind == "2d" else 1
    axis, coords = landscape.grid(a.span, a.points or (11 if dims == 2 else 21), dims)
    values = landscape.surface(fn, params, landscape.random_directions(params, dims, a.seed), coords, a.chunk,
                               data)
    xlabel = "step along a filter-normalised direction"
  np.savez(os.path.join(out, name + ".npz"), axis=axis, **values)
  title = f"{run.config.model} step {run.step}"
  if a.kind == "2d":
    n = len(axis)
    figs = plots.contour_and_surface(axis, values["loss"].reshape(n, n), os.path.join(out, name), title)
    centre = values["loss"].reshape(n, n)[n // 2, n // 2]
  else:
    figs = [plots.line(axis, {"loss": values["loss"]}, os.path.join(out, name + ".png"), xlabel, "loss", title)]
    centre = values["loss"][np.argmin(np.abs(axis - (1.0 if a.kind == "interpolate" else 0.0)))]
  print(f"{name}: {len(values['loss'])} points, loss at the trained weights {centre:.4g}, "
        f"min {values['loss'].min():.4g}, max {values['loss'].max():.4g}; wrote {', '.join(figs)}")


def cmd_hessian(a) -> None:
  run = analyze_run.load(a.workdir)
  variables = run.init_variables() if a.params == "init" else run.variables
  params, state = analyze_run.split(variables)
  loss, data = analyze_run.loss_fn(run, state), analyze_run.batch(run.train_source, a.examples)
  top = hessian.top_eigenvalues(loss, params, data, a.top_k, a.lanczos_steps, a.seed)
  trace, trace_se = hessian.hutchinson_trace(loss, params, data, a.trace_samples, a.seed)
  nodes, weights = hessian.slq(loss, params, data, a.slq_runs, a.slq_steps, a.seed)
  lo, hi = float(nodes.min()), float(nodes.max())
  pad = 0.05 * (hi - lo) + 1e-6
  grid = np.linspace(lo - pad, hi + pad, 1000)
  sigma = a.sigma * (hi - lo + 1e-12)  # PyHessian: a width relative to the spectrum's range
  values = hessian.density(nodes, weights, grid, sigma)
  out = plots.out_dir(a.workdir)
  name = f"hessian_{a.params}"
  np.savez(os.path.join(out, name + ".npz"), top_eigenvalues=top, trace=trace, trace_stderr=trace_se,
           slq_nodes=nodes, slq_weights=weights, grid=grid, density=values)
  summary = {"step": run.step if a.params == "final" else 0, "examples": a.examples,
             "top_eigenvalues": top.tolist(), "trace": trace, "trace_stderr": trace_se,
             "num_params": int(sum(np.size(x) for x in jax.tree.leaves(params)))}
  with open(os.path.join(out, name + ".json"), "w") as f:
    json.dump(summary, f, indent=2)
  fig = plots.density(grid, values, top, os.path.join(out, name + "_density.png"),
                      f"{run.config.model} Hessian spectrum ({a.params})")
  print(f"{name}: top eigenvalues {np.array2string(top, precision=4)}, trace {trace:.4g} +- {trace_se:.2g} "
        f"({a.examples} examples); wrote {fig}")


def cmd_features(a) -> None:
  run = analyze_run.load(a.workdir)
  images = analyze_run.batch(run.eval_source, a.images)
  x, labels = images["image"], images["label"]
  kw = {k: np.asarray(v) for k, v in run.scheduled_args.items()}
  shapes = features.layer_shapes(run.model, run.variables, x[:1], **kw)
  if not shapes:
    raise errors.UserError(f"model {run.config.model!r} has no layer with a 4-D (NHWC) output; accepted: convnets")
  names = list(shapes)
  spatial = [n for n in names if min(shapes[n][1:3]) >= 2] or names  # a 1x1 map has no picture, no spectrum
  layer = a.layer or spatial[0]
  cam_layer = a.cam_layer or spatial[-1]
  for flag, value in (("--layer", layer), ("--cam_layer", cam_layer)):
    if value not in shapes:
      raise errors.UserError(f"{flag} {value!r} is not a 4-D layer of {run.config.model}; accepted: "
                             f"{', '.join(names)}")
  out = plots.out_dir(a.workdir)
  fmap = np.asarray(features.feature_map(run.model, run.variables, x, layer, **kw))
  cams, predicted = features.grad_cam(run.model, run.variables, x, cam_layer, **kw)
  cams_up = np.asarray(jax.image.resize(cams, (len(x), *x.shape[1:3]), "bilinear")).clip(0, 1)
  every = features.feature_maps(run.model, run.variables, x, spatial, **kw)
  high = np.array([features.relative_log_amplitude(f)[-1] for f in every.values()])
  safe = lambda s: s.replace("/", ".")
  np.savez(os.path.join(out, "features.npz"), layer_names=np.array(spatial), high_frequency=high,
           feature_map=fmap, grad_cam=cams, predicted=predicted, labels=labels)
  channels = np.moveaxis(fmap[0, ..., :a.channels], -1, 0)
  figs = [plots.image_grid(channels, os.path.join(out, f"features_{safe(layer)}.png"),
                           f"{layer}: first {len(channels)} channels of image 0", cmap="viridis"),
          plots.image_grid(x, os.path.join(out, f"gradcam_{safe(cam_layer)}.png"),
                           f"Grad-CAM at {cam_layer} (label/predicted)", overlays=cams_up,
                           labels=[f"{l}/{p}" for l, p in zip(labels, predicted)]),
          plots.line(np.arange(len(spatial)), {"high frequency": high}, os.path.join(out, "frequency.png"),
                     "layer (call order, maps of 2x2 and larger)", "relative log amplitude at (pi, pi)",
                     f"{run.config.model}: Fourier analysis of feature maps")]
  print(f"features: {len(spatial)} layers with feature maps ({spatial[0]} .. {spatial[-1]}); relative log amplitude "
        f"at the highest frequency from {high[0]:.3g} to {high[-1]:.3g}; wrote {', '.join(figs)}")


def cmd_curves(a) -> None:
  from train import analyze_compare
  figs = analyze_compare.curves(a.workdir)
  print(f"curves: wrote {', '.join(figs)}")


def cmd_compare(a) -> None:
  from train import analyze_compare
  figs = analyze_compare.compare(a.workdir, a.out)
  print(f"compare: {len(a.workdir)} runs; wrote {', '.join(figs)}")


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m train.analyze", description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="command", required=True)
  c = sub.add_parser("landscape", help="loss surface or interpolation")
  c.add_argument("--workdir", required=True)
  c.add_argument("--kind", choices=("2d", "1d", "interpolate"), default="2d")
  c.add_argument("--points", type=int, default=None, help="per axis (default 11 for 2d, 21 otherwise)")
  c.add_argument("--span", type=float, default=1.0, help="the grid covers [-span, span] per direction")
  c.add_argument("--examples", type=int, default=128, help="training examples the loss is measured on")
  c.add_argument("--chunk", type=int, default=4, help="grid points evaluated at once (vmap)")
  c.add_argument("--other", default=None, help="interpolate from this workdir's final weights, not the init")
  c.add_argument("--seed", type=int, default=0)
  c = sub.add_parser("hessian", help="top eigenvalues, trace, eigenvalue density")
  c.add_argument("--workdir", required=True)
  c.add_argument("--params", choices=("final", "init"), default="final")
  c.add_argument("--examples", type=int, default=64)
  c.add_argument("--top_k", type=int, default=5)
  c.add_argument("--lanczos_steps", type=int, default=20)
  c.add_argument("--trace_samples", type=int, default=10)
  c.add_argument("--slq_runs", type=int, default=2)
  c.add_argument("--slq_steps", type=int, default=20)
  c.add_argument("--sigma", type=float, default=0.01, help="Gaussian width, relative to the spectrum's range")
  c.add_argument("--seed", type=int, default=0)
  c = sub.add_parser("features", help="feature maps, Grad-CAM, frequency analysis")
  c.add_argument("--workdir", required=True)
  c.add_argument("--layer", default=None, help="feature maps of this layer (default: the first 4-D one)")
  c.add_argument("--cam_layer", default=None, help="Grad-CAM at this layer (default: the last 4-D one)")
  c.add_argument("--images", type=int, default=8, help="eval images")
  c.add_argument("--channels", type=int, default=16)
  c = sub.add_parser("curves", help="training curves from metrics.jsonl")
  c.add_argument("--workdir", required=True)
  c = sub.add_parser("compare", help="accuracy vs MACs vs parameters over several runs")
  c.add_argument("--workdir", required=True, nargs="+")
  c.add_argument("--out", required=True, help="directory for comparison.png and comparison.md")
  return p


COMMANDS = {"landscape": cmd_landscape, "hessian": cmd_hessian, "features": cmd_features, "curves": cmd_curves,
            "compare": cmd_compare}


def main(argv=None) -> int:
  args = parser().parse_args(argv)
  for name in ("examples", "points", "chunk", "top_k", "lanczos_steps", "trace_samples", "slq_runs", "slq_steps",
               "images", "channels"):
    value = getattr(args, name, None)
    if value is not None and value < 1:
      print(f"error: --{name}={value}; accepted: a positive integer", file=sys.stderr)
      return 2
  start = time.perf_counter()
  try:
    COMMANDS[args.command](args)
  except (errors.UserError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"{args.command} took {time.perf_counter() - start:.0f} s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
