"""Across runs and over time: training curves (metrics.jsonl) and the comparison chart (summary.json).

MACs per example come from `archs.costs.profile` when the library has it, otherwise from XLA's cost analysis
of the compiled eval forward (flops / 2 for one example), labelled as such in the table.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import archs
from train import analyze_plots as plots
from train import data, errors, hparams, tasks
from train.trainer import DTYPES

SKIP = {"kind", "step", "epoch", "images_per_sec"}


def _read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    raise errors.UserError(f"{path} does not exist; accepted: the workdir of a train.main run")
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _config(workdir: str):
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise errors.UserError(f"--workdir {workdir} has no config.json; accepted: the workdir of a train.main run")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def curves(workdir: str) -> list[str]:
  """One figure per metric (train and eval together) and one per scheduled hyperparameter, against step."""
  events = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  config = _config(workdir)
  out = plots.out_dir(workdir)
  keys = sorted({k for e in events for k, v in e.items() if k not in SKIP and isinstance(v, (int, float))})
  figs = []
  for key in keys:
    series = {}
    for kind in ("train", "eval"):
      pts = [(e["step"], e[key]) for e in events if e.get("kind") == kind and key in e]
      if pts:
        series[kind] = np.array(pts)
    if not series:
      continue
    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, pts in series.items():
      ax.plot(pts[:, 0], pts[:, 1], label=kind, marker="." if len(pts) < 50 else None)
    ax.set(xlabel="step", ylabel=key, title=f"{config.model}: {key}")
    ax.legend()
    figs.append(plots._save(fig, os.path.join(out, f"curve_{key}.png")))
  unlogged = [name for name in config.hparams if name not in keys]
  if unlogged:  # scheduled hyperparameters the log does not hold: recomputed from the config
    task = tasks.create_task(config)
    train_source, _, _ = task.datasets(config, 0, 1)
    spe = data.steps_per_epoch(train_source, config.batch_size)
    schedules = hparams.HParams(config.hparams, spe)
    steps = np.arange(0, config.num_epochs * spe + 1)
    values = {name: [float(schedules.schedules[name](int(s))) for s in steps] for name in unlogged}
    for name, ys in values.items():
      figs.append(plots.line(steps, {name: ys}, os.path.join(out, f"curve_{name}.png"), "step", name,
                             f"{config.model}: scheduled {name}"))
  return figs


def macs_per_example(config) -> tuple[float, str]:
  """(MACs of one eval forward of one example, source)."""
  task = tasks.create_task(config)
  train_source, _, info = task.datasets(config, 0, 1)
  kwargs = {**task.model_overrides(config, info), **dict(config.model_kwargs), "dtype": DTYPES[config.dtype]}
  model = archs.create_model(config.model, **kwargs)
  example = jax.tree.map(lambda x: np.asarray(x)[None], train_source[0])
  inputs = task.init_inputs(example)
  costs = getattr(archs, "costs", None)
  if costs is not None and hasattr(costs, "profile"):
    try:
      return float(costs.profile(model, *inputs)["macs"]), "archs.costs"
    except Exception:  # an API that differs from what this expects: fall back to XLA
      pass
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), *inputs, train=False))
  structs = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.asarray(x).dtype), inputs)
  compiled = jax.jit(lambda v, *xs: model.apply(v, *xs, train=False)).lower(variables, *structs).compile()
  analysis = compiled.cost_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  return float(analysis.get("flops", 0.0)) / 2, "XLA flops / 2"


def compare(workdirs: list[str], out: str) -> list[str]:
  """comparison.png (accuracy vs MACs, area = parameters) and comparison.md (the table) in `out`."""
  rows = []
  for w in workdirs:
    path = os.path.join(w, "summary.json")
    if not os.path.exists(path):
      raise errors.UserError(f"{path} does not exist; accepted: workdirs of finished train.main runs")
    with open(path) as f:
      s = json.load(f)
    if "eval_accuracy" not in s:
      raise errors.UserError(f"{path} has no eval_accuracy; accepted: classification runs")
    macs, source = macs_per_example(_config(w))
    rows.append({"name": os.path.basename(os.path.normpath(w)), "model": s["model"], "eval_accuracy":
                 s["eval_accuracy"], "num_params": s["num_params"], "macs": macs, "macs_source": source})
  os.makedirs(out, exist_ok=True)
  lines = ["| run | model | eval accuracy | parameters | MACs / example | MACs from |", "|---|---|---|---|---|---|"]
  lines += [f"| {r['name']} | `{r['model']}` | {100 * r['eval_accuracy']:.2f}% | {r['num_params']:,} | "
            f"{r['macs']:,.0f} | {r['macs_source']} |" for r in rows]
  with open(os.path.join(out, "comparison.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(out, "comparison.json"), "w") as f:
    json.dump(rows, f, indent=2)
  return [plots.bubbles(rows, os.path.join(out, "comparison.png"), "macs", "MACs per example (log)"),
          os.path.join(out, "comparison.md")]
