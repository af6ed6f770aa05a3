"""VanillaNet-5 (1/8 width, digits) with and without deep training, with act_num 0..4: accuracy, the top Hessian
eigenvalue and a 1-D loss landscape per run (Chen et al. 2023: deep training helps shallow nets; act_num 3
balances cost and accuracy).

  python -m experiments.vanillanet_deep_training [--seeds 0 1 2] [--act_nums 0 1 2 3 4] [--dry_run]
Per run: `train.main` with experiments/configs/vanillanet_ablation.py:act<N>[_lambda1], then `train.analyze
hessian` and `train.analyze landscape --kind 1d` on it. Writes ROOT/vanillanet/<lambda>_act<N>_s<seed>/,
results.md / results.json there, and docs/experiments/vanillanet_*.png.
"""
from __future__ import annotations

import os

import numpy as np

from experiments import common

CONFIG = "experiments/configs/vanillanet_ablation.py"
SCHEDULES = {"deep": "", "lambda1": "_lambda1"}   # deep training (lambda 0 -> 1) / lambda = 1 throughout
# Cheaper than the command's defaults (a VanillaNet Hessian took 519 s with them on this loaded CPU); the top
# eigenvalue converges first in Lanczos, the density is not used here.
HESSIAN = ["--examples", "64", "--top_k", "2", "--lanczos_steps", "10", "--trace_samples", "4", "--slq_runs", "1",
           "--slq_steps", "4"]
LANDSCAPE = ["--kind", "1d", "--points", "21", "--span", "1.0", "--examples", "64"]


def run_name(schedule: str, act_num: int, seed: int) -> str:
  return f"{schedule}_act{act_num}_s{seed}"


def plan(root: str, seeds, act_nums, schedules=SCHEDULES, analyses=("hessian", "landscape")):
  """(label, command, done-file) for every step, in order: the act_num 3 pair first, the key comparison."""
  order = sorted(act_nums, key=lambda n: n != 3)  # stable: otherwise in the given order
  steps = []
  for seed in seeds:
    for act_num in order:
      for schedule in schedules:
        name = run_name(schedule, act_num, seed)
        w = os.path.join(root, name)
        steps += [(f"{name}.train", common.train(f"{CONFIG}:act{act_num}{SCHEDULES[schedule]}", w,
                                                 f"--config.seed={seed}"), os.path.join(w, "summary.json"))]
        if "hessian" in analyses:
          steps.append((f"{name}.hessian", common.analyze("hessian", w, *HESSIAN),
                        os.path.join(w, "analysis", "hessian_final.json")))
        if "landscape" in analyses:
          steps.append((f"{name}.landscape", common.analyze("landscape", w, *LANDSCAPE),
                        os.path.join(w, "analysis", "landscape_1d.npz")))
  return steps


def report(root: str, docs: str, timings: dict) -> str:
  """results.md / .json from every finished run under root; the figures into docs."""
  rows, data = [], []
  for name in sorted(os.listdir(root)):
    w = os.path.join(root, name)
    summary = common.read_json(os.path.join(w, "summary.json"))
    if not summary:
      continue
    schedule, act, seed = name.split("_")
    hess = common.read_json(os.path.join(w, "analysis", "hessian_final.json")) or {}
    top = (hess.get("top_eigenvalues") or [None])[0]
    r = {"run": name, "schedule": schedule, "act_num": int(act[3:]), "seed": int(seed[1:]),
         "eval_accuracy": summary["eval_accuracy"], "eval_loss": summary.get("eval_loss"),
         "num_params": summary["num_params"], "top_eigenvalue": top, "trace": hess.get("trace"),
         "rise_0.5": common.rise(os.path.join(w, "analysis", "landscape_1d.npz"), 0.5),
         "train_s": summary.get("wall_seconds"), "hessian_s": timings.get(f"{name}.hessian"),
         "landscape_s": timings.get(f"{name}.landscape")}
    data.append(r)
    rows.append([f"`{name}`", r["act_num"], schedule, f"{100 * r['eval_accuracy']:.2f}%", f"{r['num_params']:,}",
                 common.fmt(top), common.fmt(r["trace"]), common.fmt(r["rise_0.5"]),
                 " / ".join(common.fmt(r[k], ".0f") for k in ("train_s", "hessian_s", "landscape_s"))])
  table = common.markdown(["run", "act_num", "lambda", "eval accuracy", "parameters (train form)",
                           "top Hessian eigenvalue", "trace", "1-D rise at 0.5", "wall s (train / hessian / landscape)"],
                          rows)
  common.write_results(root, table, data)
  if data:
    figures(root, docs, data)
  return table


def figures(root: str, docs: str, data: list[dict]) -> None:
  from train import analyze_plots as plots
  plt = plots.pyplot()
  os.makedirs(docs, exist_ok=True)
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
  for schedule, marker in (("deep", "o"), ("lambda1", "s")):
    pts = sorted((r["act_num"], r["eval_accuracy"], r["top_eigenvalue"]) for r in data if r["schedule"] == schedule)
    if not pts:
      continue
    pts = np.array([(a, acc, np.nan if top is None else top) for a, acc, top in pts], dtype=float)
    label = "deep training" if schedule == "deep" else "lambda = 1"
    axes[0].plot(pts[:, 0], 100 * pts[:, 1], marker=marker, label=label)
    axes[1].plot(pts[:, 0], pts[:, 2], marker=marker, label=label)
  axes[0].set(xlabel="act_num n (series activation (2n+1)^2)", ylabel="eval accuracy (%)", title="accuracy")
  axes[1].set(xlabel="act_num n", ylabel="top eigenvalue", title="top Hessian eigenvalue", yscale="log")
  for ax in axes:
    ax.legend()
  plots.save(fig, os.path.join(docs, "vanillanet_act_num.png"))
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
  for ax, schedule in zip(axes, ("deep", "lambda1")):
    for r in sorted(data, key=lambda r: r["act_num"]):
      path = os.path.join(root, r["run"], "analysis", "landscape_1d.npz")
      if r["schedule"] == schedule and os.path.exists(path):
        d = np.load(path)
        ax.plot(d["axis"], d["loss"], label=f"act_num {r['act_num']}")
    ax.set(xlabel="step along a filter-normalised direction", title="deep training" if schedule == "deep"
           else "lambda = 1 throughout", yscale="log")
    ax.legend(fontsize=7)
  axes[0].set_ylabel("training loss (64 examples)")
  plots.save(fig, os.path.join(docs, "vanillanet_landscape_1d.png"))


def main(argv=None) -> int:
  p = common.parser(__doc__.split("\n")[0])
  p.add_argument("--seeds", type=int, nargs="+", default=[0])
  p.add_argument("--act_nums", type=int, nargs="+", default=[0, 1, 2, 3, 4])
  p.add_argument("--schedules", nargs="+", choices=tuple(SCHEDULES), default=list(SCHEDULES))
  p.add_argument("--analyses", nargs="*", choices=("hessian", "landscape"), default=["hessian", "landscape"],
                 help="after each training (none: train only)")
  a = p.parse_args(argv)
  root = os.path.join(a.root, "vanillanet")
  runner = common.Runner(root, a.dry_run)
  for label, cmd, done in plan(root, a.seeds, a.act_nums, a.schedules, a.analyses):
    runner(label, cmd, done)
    if not a.dry_run and not label.endswith(".train"):
      report(root, a.docs, runner.timings)   # the table grows as runs finish
  if not a.dry_run:
    print(report(root, a.docs, runner.timings))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
