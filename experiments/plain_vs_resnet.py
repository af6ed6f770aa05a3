"""CIFAR ResNets with and without identity shortcuts on digits: training curves and 2-D loss landscapes
(He et al. 2015 Fig. 6: the deeper plain net trains worse, the degradation problem; Li et al. 2018 Fig. 5:
shortcuts keep the surface of a deep net smooth and convex-looking).

  python -m experiments.plain_vs_resnet [--depths 20 56] [--seeds 0] [--dry_run]
Per net: `train.main` with experiments/configs/digits_cnn.py:{resnet,plain}<depth>_cifar (8x8x3, 10 epochs),
`train.analyze curves` and `train.analyze landscape` (2-D, filter-normalised directions). Writes
ROOT/plain_vs_resnet/<net>_s<seed>/, results.md / results.json there, docs/experiments/plain_vs_resnet_*.png.
"""
from __future__ import annotations

import os

import numpy as np

from experiments import common

CONFIG = "experiments/configs/digits_cnn.py"
LANDSCAPE = ["--kind", "2d", "--points", "11", "--span", "1.0", "--examples", "64"]


def nets(depths) -> list[str]:
  return [f"{kind}{d}_cifar" for d in depths for kind in ("resnet", "plain")]


def plan(root: str, depths, seeds):
  steps = []
  for seed in seeds:
    for net in nets(depths):
      w = os.path.join(root, f"{net}_s{seed}")
      steps += [(f"{net}_s{seed}.train", common.train(f"{CONFIG}:{net}", w, f"--config.seed={seed}"),
                 os.path.join(w, "summary.json")),
                (f"{net}_s{seed}.curves", common.analyze("curves", w), os.path.join(w, "analysis", "curve_loss.png")),
                (f"{net}_s{seed}.landscape", common.analyze("landscape", w, *LANDSCAPE),
                 os.path.join(w, "analysis", "landscape_2d.npz"))]
  return steps


def landscape_stats(path: str) -> dict:
  if not os.path.exists(path):
    return {}
  d = np.load(path)
  n = len(d["axis"])
  z = d["loss"].reshape(n, n)
  x, y = np.meshgrid(d["axis"], d["axis"], indexing="ij")
  ring = np.abs(np.hypot(x, y) - 0.5) < 0.06   # the grid points at radius ~0.5
  return {"centre": float(z[n // 2, n // 2]), "max": float(z.max()), "mean": float(z.mean()),
          "ring_0.5": float(z[ring].mean())}


def report(root: str, docs: str, timings: dict) -> str:
  rows, data = [], []
  for name in sorted(os.listdir(root)):
    w = os.path.join(root, name)
    summary = common.read_json(os.path.join(w, "summary.json"))
    if not summary:
      continue
    events = common.read_metrics(w)
    train_loss = common.curve(events, "train", "loss")
    land = landscape_stats(os.path.join(w, "analysis", "landscape_2d.npz"))
    r = {"run": name, "model": summary["model"], "eval_accuracy": summary["eval_accuracy"],
         "final_train_loss": float(train_loss[-1, 1]) if len(train_loss) else None,
         "num_params": summary["num_params"], "landscape": land, "train_s": summary.get("wall_seconds"),
         "landscape_s": timings.get(f"{name}.landscape")}
    data.append(r)
    rows.append([f"`{name}`", f"{100 * r['eval_accuracy']:.2f}%", common.fmt(r["final_train_loss"], ".4f"),
                 f"{r['num_params']:,}", common.fmt(land.get("centre"), ".3g"), common.fmt(land.get("ring_0.5")),
                 common.fmt(land.get("max")), " / ".join(common.fmt(r[k], ".0f") for k in ("train_s", "landscape_s"))])
  table = common.markdown(["run", "eval accuracy", "last epoch's train loss", "parameters",
                           "2-D landscape: loss at centre", "mean loss at radius 0.5", "max loss (corner)",
                           "wall s (train / landscape)"], rows)
  common.write_results(root, table, data)
  if data:
    figures(root, docs, data)
  return table


def figures(root: str, docs: str, data: list[dict]) -> None:
  from train import analyze_plots as plots
  plt = plots.pyplot()
  os.makedirs(docs, exist_ok=True)
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
  for r in data:
    events = common.read_metrics(os.path.join(root, r["run"]))
    style = "-" if r["model"].startswith("resnet") else "--"
    for ax, kind, key in ((axes[0], "train", "loss"), (axes[1], "eval", "accuracy")):
      pts = common.curve(events, kind, key)
      if len(pts):
        ax.plot(pts[:, 0], pts[:, 1] * (100 if key == "accuracy" else 1), style, marker=".", label=r["model"])
  axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss")
  axes[1].set(xlabel="epoch", ylabel="eval accuracy (%)", title="test accuracy")
  axes[0].legend(fontsize=7)
  plots.save(fig, os.path.join(docs, "plain_vs_resnet_curves.png"))
  maps = [r for r in data if r["landscape"]]
  if not maps:
    return
  fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps), 2.8), squeeze=False)
  for ax, r in zip(axes[0], sorted(maps, key=lambda r: (r["model"][-8:], r["model"]))):
    d = np.load(os.path.join(root, r["run"], "analysis", "landscape_2d.npz"))
    n = len(d["axis"])
    x, y = np.meshgrid(d["axis"], d["axis"], indexing="ij")
    cs = ax.contour(x, y, np.log10(d["loss"].reshape(n, n)), levels=np.arange(-3, 1.51, 0.25), cmap="viridis",
                    linewidths=0.8)
    ax.plot([0], [0], "k+")
    ax.set_title(r["model"], fontsize=9)
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
  fig.colorbar(cs, ax=list(axes[0]), label="log10 loss", shrink=0.8)
  fig.savefig(os.path.join(docs, "plain_vs_resnet_landscape_2d.png"), dpi=72)
  plt.close(fig)


def main(argv=None) -> int:
  p = common.parser(__doc__.split("\n")[0])
  p.add_argument("--depths", type=int, nargs="+", default=[20, 56])
  p.add_argument("--seeds", type=int, nargs="+", default=[0])
  a = p.parse_args(argv)
  root = os.path.join(a.root, "plain_vs_resnet")
  runner = common.Runner(root, a.dry_run)
  for label, cmd, done in plan(root, a.depths, a.seeds):
    runner(label, cmd, done)
    if not a.dry_run and label.endswith(".landscape"):
      report(root, a.docs, runner.timings)
  if not a.dry_run:
    print(report(root, a.docs, runner.timings))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
