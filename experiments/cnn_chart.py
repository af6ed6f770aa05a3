"""The comparison chart of CNN families trained on digits through the CLI: eval accuracy against MACs per
example, circle area = parameters (Canziani et al. 2016's chart, at digits scale).

  python -m experiments.cnn_chart [--models lenet5 mlp vgg11_quarter resnet20_cifar vanillanet_5 convnext_tiny]
                                  [--dry_run]
Each model is trained by `train.main` with its config (the ResNet-20 and VanillaNet runs are those of the other
two experiments, reused when they exist), then one `train.analyze compare` over all of them. Writes
ROOT/cnn_chart/ (comparison.md / .json / .png) and docs/experiments/cnn_chart.png.
"""
from __future__ import annotations

import os
import shutil

from experiments import common, plain_vs_resnet, vanillanet_deep_training

DIGITS_CNN = "experiments/configs/digits_cnn.py"
# model -> (config, workdir under ROOT, overrides)
RUNS = {
    "lenet5": ("configs/lenet5.py", "cnn_chart/lenet5", ()),
    "mlp": (f"{DIGITS_CNN}:mlp", "cnn_chart/mlp", ()),
    "vgg11_quarter": (f"{DIGITS_CNN}:vgg11_quarter", "cnn_chart/vgg11_quarter", ()),
    "resnet20_cifar": (f"{plain_vs_resnet.CONFIG}:resnet20_cifar", "plain_vs_resnet/resnet20_cifar_s0",
                       ("--config.seed=0",)),
    "vanillanet_5": (f"{vanillanet_deep_training.CONFIG}:act3", "vanillanet/deep_act3_s0", ("--config.seed=0",)),
    "convnext_tiny": ("configs/convnext.py", "cnn_chart/convnext_tiny", ()),
}


def plan(root: str, models):
  steps, workdirs = [], []
  for m in models:
    config, sub, overrides = RUNS[m]
    w = os.path.join(root, sub)
    workdirs.append(w)
    steps.append((f"{m}.train", common.train(config, w, *overrides), os.path.join(w, "summary.json")))
  out = os.path.join(root, "cnn_chart")
  steps.append(("compare", common.analyze("compare", workdirs[0], *workdirs[1:], "--out", out),
                None))  # always rerun: cheap, and the set of runs may have grown
  return steps


def main(argv=None) -> int:
  p = common.parser(__doc__.split("\n")[0])
  p.add_argument("--models", nargs="+", choices=tuple(RUNS), default=list(RUNS))
  a = p.parse_args(argv)
  out = os.path.join(a.root, "cnn_chart")
  runner = common.Runner(out, a.dry_run)
  for label, cmd, done in plan(a.root, a.models):
    runner(label, cmd, done)
  if not a.dry_run:
    os.makedirs(a.docs, exist_ok=True)
    shutil.copy(os.path.join(out, "comparison.png"), os.path.join(a.docs, "cnn_chart.png"))
    with open(os.path.join(out, "comparison.md")) as f:
      print(f.read())
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
