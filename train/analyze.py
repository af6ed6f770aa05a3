"""Understanding a trained run: `python -m train.analyze COMMAND --workdir W [options]`.

Commands (each writes .npz data and PNG figures into W/analysis/, and prints what it measured):
  landscape  loss surface along filter-normalised random directions (2-D or 1-D), or the linear interpolation
             from the run's initial parameters (or --other W2's) to its final ones (Li et al. 2018)
  hessian    top Hessian eigenvalues (Lanczos), trace (Hutchinson) and eigenvalue density (SLQ), all from one
             compiled program of Hessian-vector products
  features   what a network looks at (--method): feature maps, Grad-CAM, the high-frequency amplitude of every
             layer, deconvnet / guided-backprop projections, BAM's attention maps, attention weights per head
  curves     loss, accuracy, learning rate and every scheduled hyperparameter against step (metrics.jsonl)
  compare    accuracy against MACs per example, circle area = parameters, over several workdirs (--workdir
             W1 W2 ...) and/or a table passed in (--rows); writes into --out, prints markdown with --table
The model-only tools are in archs/analysis/; run directories and figures are here. Checkpoints are opened
read-only (nothing on disk changes), so a run may still be training; --step picks an older checkpoint.
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
from train.analyze_features import METHODS


def cmd_landscape(a) -> None:
  run = analyze_run.load(a.workdir, a.step)
  params, state = analyze_run.split(run.variables)
  fn = analyze_run.metrics_fn(run, state)
  data = analyze_run.batch(run.train_source, a.examples)
  out, name = plots.out_dir(a.workdir), f"landscape_{a.kind}"
  if a.kind == "interpolate":
    if a.other or a.other_step is not None:
      start = analyze_run.load(a.other or a.workdir, a.other_step).variables["params"]
    else:
      start = run.init_variables()["params"]
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
  run = analyze_run.load(a.workdir, a.step)
  variables = run.init_variables() if a.params == "init" else run.variables
  params, state = analyze_run.split(variables)
  loss, data = analyze_run.loss_fn(run, state), analyze_run.batch(run.train_source, a.examples)
  steps = max(a.lanczos_steps, a.slq_steps or 0)  # one set of runs serves both
  got = hessian.spectrum(loss, params, data, a.top_k, a.slq_runs, steps, a.trace_samples, a.seed)
  top, trace, trace_se, nodes, weights = (got[k] for k in ("top_eigenvalues", "trace", "trace_stderr", "nodes",
                                                           "weights"))
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
  from train import analyze_features
  analyze_features.run_features(a)


def cmd_curves(a) -> None:
  from train import analyze_compare
  figs = analyze_compare.curves(a.workdir)
  print(f"curves: wrote {', '.join(figs)}")


def cmd_compare(a) -> None:
  from train import analyze_compare
  if not (a.out or a.table):
    raise errors.UserError("compare writes nothing without --out DIR or --table; accepted: either or both")
  rows = analyze_compare.rows_from(a.workdir or [], a.rows)
  if a.table:
    print(analyze_compare.markdown(rows), end="")
  if a.out:
    figs = analyze_compare.write(rows, a.out)
    print(f"compare: {len(rows)} runs; wrote {', '.join(figs)}")


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
  c.add_argument("--other_step", type=int, default=None,
                 help="interpolate from this checkpoint step (of --other, or of --workdir without it)")
  c.add_argument("--seed", type=int, default=0)
  c = sub.add_parser("hessian", help="top eigenvalues, trace, eigenvalue density")
  c.add_argument("--workdir", required=True)
  c.add_argument("--params", choices=("final", "init"), default="final")
  c.add_argument("--examples", type=int, default=64)
  c.add_argument("--top_k", type=int, default=5)
  c.add_argument("--lanczos_steps", type=int, default=20, help="per SLQ run; the top eigenvalues are its Ritz values")
  c.add_argument("--trace_samples", type=int, default=10, help="Hutchinson's Rademacher vectors")
  c.add_argument("--slq_runs", type=int, default=2, help="Lanczos runs in lockstep (the product's batch)")
  c.add_argument("--slq_steps", type=int, default=None, help="the runs take the larger of this and --lanczos_steps")
  c.add_argument("--sigma", type=float, default=0.01, help="Gaussian width, relative to the spectrum's range")
  c.add_argument("--seed", type=int, default=0)
  c = sub.add_parser("features", help="feature maps, Grad-CAM, frequency, deconvnet/guided backprop, attention")
  c.add_argument("--workdir", required=True)
  c.add_argument("--method", nargs="+", choices=METHODS, default=None,
                 help="default: every method that applies to the model")
  c.add_argument("--layer", default=None, help="feature maps of this layer (default: the first 4-D one)")
  c.add_argument("--cam_layer", default=None, help="Grad-CAM at this layer (default: the last 4-D one)")
  c.add_argument("--project_layer", default=None,
                 help="deconvnet/guided: project this layer's strongest activation (default: the class logit)")
  c.add_argument("--channel", type=int, default=None,
                 help="deconvnet/guided: this channel (class) for every image (default: the strongest/predicted)")
  c.add_argument("--attention_layer", default=None, help="attention weights of this module (default: the last)")
  c.add_argument("--images", type=int, default=8, help="eval examples")
  c.add_argument("--channels", type=int, default=16)
  c = sub.add_parser("curves", help="training curves from metrics.jsonl")
  c.add_argument("--workdir", required=True)
  c = sub.add_parser("compare", help="accuracy vs MACs vs parameters over several runs")
  c.add_argument("--workdir", nargs="+", default=None, help="finished runs (their summary.json)")
  c.add_argument("--rows", default=None, help="a table passed in: a JSON list of {name, eval_accuracy, "
                 "num_params, macs} (e.g. an earlier comparison.json), added to the runs")
  c.add_argument("--out", default=None, help="directory for comparison.png, comparison.md and comparison.json")
  c.add_argument("--table", action="store_true", help="print the comparison as a markdown table")
  for name in ("landscape", "hessian", "features"):  # the commands that read a checkpoint
    sub.choices[name].add_argument("--step", type=int, default=None,
                                   help="analyse the checkpoint of this step (default: the newest)")
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
