"""Across runs and over time: training curves (metrics.jsonl) and the comparison chart (summary.json).

MACs per example come from `archs.costs.profile` (convolutions and matrix products, counted from the jaxpr, at the
run's input size).
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np

import archs
from archs import costs
from train import analyze_plots as plots
from train import data, errors, scheduled_args, tasks
from train.trainer import DTYPES

SKIP = {"kind", "step", "epoch", "images_per_sec"}


def _read_jsonl(path: str) -> list[dict]:
  if not os.path.exists(path):
    raise errors.UserError(f"{path} does not exist; accepted: the workdir of a train.main run")
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _config(workdir: str):
  from train import analyze_run
  return analyze_run.read_config(workdir)


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
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for kind, pts in series.items():
      ax.plot(pts[:, 0], pts[:, 1], label=kind, marker="." if len(pts) < 50 else None)
    ax.set(xlabel="step", ylabel=key, title=f"{config.model}: {key}")
    ax.legend()
    figs.append(plots.save(fig, os.path.join(out, f"curve_{key}.png")))
  unlogged = [name for name in config.scheduled_args if name not in keys]
  if unlogged:  # scheduled hyperparameters the log does not hold: recomputed from the config
    task = tasks.create_task(config)
    train_source, _, _ = task.datasets(config)
    spe = data.steps_per_epoch(train_source, config.batch_size)
    schedules = scheduled_args.ScheduledArgs(config.scheduled_args, spe)
    steps = np.arange(0, config.num_epochs * spe + 1)
    values = {name: [float(schedules.schedules[name](int(s))) for s in steps] for name in unlogged}
    for name, ys in values.items():
      figs.append(plots.line(steps, {name: ys}, os.path.join(out, f"curve_{name}.png"), "step", name,
                             f"{config.model}: scheduled {name}"))
  return figs


def macs_per_example(config) -> int:
  """Multiply-accumulates of one eval forward of one example (`archs.costs.profile`, counted from the jaxpr)."""
  task = tasks.create_task(config)
  train_source, _, info = task.datasets(config)
  kwargs = {**task.model_overrides(config, info), **dict(config.model_kwargs), "dtype": DTYPES[config.dtype]}
  model = archs.create_model(config.model, **kwargs)
  inputs = task.init_inputs(jax.tree.map(lambda x: np.asarray(x)[None], train_source[0]))
  return costs.profile(model, tuple((x.shape, str(x.dtype)) for x in inputs), xla=False).macs


FIELDS = ("name", "eval_accuracy", "num_params", "macs")


def rows_from(workdirs: list[str], table: str | None = None) -> list[dict]:
  """One row per finished run (summary.json; MACs counted from its config), then the rows of a JSON table."""
  rows = []
  for w in workdirs:
    path = os.path.join(w, "summary.json")
    if not os.path.exists(path):
      raise errors.UserError(f"{path} does not exist; accepted: workdirs of finished train.main runs")
    with open(path) as f:
      s = json.load(f)
    if "eval_accuracy" not in s:
      raise errors.UserError(f"{path} has no eval_accuracy; accepted: classification runs")
    rows.append({"name": os.path.basename(os.path.normpath(w)), "model": s["model"], "eval_accuracy":
                 s["eval_accuracy"], "num_params": s["num_params"], "macs": macs_per_example(_config(w))})
  if table:
    with open(table) as f:
      given = json.load(f)
    for i, r in enumerate(given if isinstance(given, list) else [given]):
      missing = [k for k in FIELDS if not isinstance(r, dict) or k not in r]
      if missing:
        raise errors.UserError(f"--rows {table}: row {i} lacks {', '.join(missing)}; accepted: a JSON list of "
                               f"objects with {', '.join(FIELDS)} (and optionally model)")
      rows.append({"model": "", **r})
  if not rows:
    raise errors.UserError("compare has no runs; accepted: --workdir W1 W2 ... and/or --rows TABLE.json")
  return rows


def markdown(rows: list[dict]) -> str:
  """The comparison as a markdown table, one line per run, in the given order."""
  lines = ["| run | model | eval accuracy | parameters | MACs / example |", "|---|---|---|---|---|"]
  lines += [f"| {r['name']} | {'`' + r['model'] + '`' if r['model'] else '-'} | {100 * r['eval_accuracy']:.2f}% | "
            f"{r['num_params']:,} | {r['macs']:,} |" for r in rows]
  return "\n".join(lines) + "\n"


def write(rows: list[dict], out: str) -> list[str]:
  """comparison.png (accuracy vs MACs, area = parameters), comparison.md (the table) and .json in `out`."""
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "comparison.md"), "w") as f:
    f.write(markdown(rows))
  with open(os.path.join(out, "comparison.json"), "w") as f:
    json.dump(rows, f, indent=2)
  return [plots.bubbles(rows, os.path.join(out, "comparison.png"), "macs", "MACs per example (log)"),
          os.path.join(out, "comparison.md")]


def compare(workdirs: list[str], out: str) -> list[str]:
  """The comparison of finished runs written into `out` (a notebook's one call)."""
  return write(rows_from(workdirs), out)
