"""ResNet-50: torchvision's 90-epoch SGD recipe, and the ResNet-RS training ladder (Bello et al. 2021, Table 1).

  python -m train.main --config configs/resnet50.py --workdir /tmp/resnet50          # digits, 32x32x3
  python -m train.main --config configs/resnet50.py:imagenet --workdir /tmp/r50      # torchvision's baseline
  python -m train.main --config configs/resnet50.py:rs --workdir /tmp/rs50           # the whole RS ladder
  python -m train.main --config configs/resnet50.py:rs4 --workdir /tmp/rs50_4        # its first 4 rungs only
  python -m train.main --config configs/resnet50.py:deep_training --workdir /tmp/r50dt  # VanillaNet's deep training
Default (no argument): scaled down to the embedded digits (32x32, gray replicated to 3 channels, 5 epochs).

`imagenet` (torchvision's references/classification original recipe; its ResNet-50 V1 weights: 76.13 top-1, the
documented figure, not measured here): SGD momentum 0.9, lr 0.1 at batch 256, x0.1 at epochs 30 and 60, 90
epochs, weight decay 1e-4, random-resized crop (0.08-1, 3/4-4/3, bilinear) + flip, evaluation resize 256 and
centre 224 (crop_pct 0.875), no label smoothing. Differs: bf16 compute (torchvision: fp32); weight decay skips
biases and BN scales (torchvision decays every parameter); BN statistics per device (as DDP).

`rs0` .. `rs10` (`rs` = `rs10`): the ResNet-RS paper's improvements, one rung at a time in its order, so the ladder
can be re-run; the paper's top-1 on ResNet-200 at 256 (not measured here) after each rung:
  0 baseline 79.0: 90 epochs, step lr (x0.1 at 30, 60, 80), wd 1e-4, batch 4096, lr 0.1 x 4096 / 256, random-
    resized crop + flip     1 cosine lr (5 warmup epochs) 79.3     2 350 epochs 78.8     3 EMA 0.9999 79.1
  4 label smoothing 0.1 80.4     5 stochastic depth 0.1 80.6     6 RandAugment 2 ops, magnitude 10 81.0
  7 dropout 0.25 on the classifier 80.7     8 weight decay 4e-5 82.2     9 squeeze-excitation 82.9
  10 ResNet-D (deep stem, average-pool shortcuts; the RS stem's strided conv for the max pool) 83.4.
Each rung's field can also be switched alone (e.g. `--config.ema_decay=0`). Differs: ResNet-50 at 224 (the
ladder: ResNet-200 at 256; RS-50 trains at 160 with stochastic depth 0); stochastic depth 0.1 is an assumption
for a 50-layer net; SE (rung 9) is seresnet50's reduction 16 and rung 10 resnetrs50's SE reduction 4 (the paper:
4 for both); RandAugment is timm's ('inc1' ops, mstd 0.5), the paper TF's; softmax CE as the paper; bf16.

`deep_training` (digits) and `imagenet_deep_training` (the `imagenet` recipe): the VanillaNet paper's row of a
deep-trained ResNet-50 (Chen et al. 2023, section 4.1: deep training helps shallow networks much and ResNet-50
little). The scheduled argument `act_lambda` (as configs/vanillanet.py) blends the ReLUs inside every residual
branch with the identity (archs/resnet.py), linearly from 0 (the ResNet) to 1 over the first third of the epochs
(VanillaNet's 100 of 300), constant within an epoch. Differs: the paper trains its ResNet-50 with its own recipe
(not given for this row); which ReLUs the paper blends is not said (archs/resnet.py says which these are).
"""
from train import defaults

RS_RUNGS = 10


def get_config(arg=None):
  defaults.check_preset(arg, (None, "imagenet", "rs", *(f"rs{i}" for i in range(RS_RUNGS + 1)), "deep_training",
                              "imagenet_deep_training"))
  c = defaults.base_config()
  c.model = "resnet50"
  c.optimizer.name = "momentum"   # Flax ImageNet uses nesterov=True: --config.optimizer.name=nesterov
  c.optimizer.momentum = 0.9
  c.weight_decay = 1e-4           # L2 on kernels only (biases and BN scales skipped)
  c.image_channels = 3
  if arg in ("imagenet", "imagenet_deep_training") or (arg or "").startswith("rs"):
    c.dataset, c.eval_split, c.image_size = "imagenet2012", "validation", 224
    c.augment, c.aug.crop, c.aug.crop_pct = True, "random_resized", 0.875
    c.num_epochs, c.batch_size = 90, 256
    c.schedule.name, c.schedule.boundaries_epochs, c.schedule.decay_factor = "step", (30, 60), 0.1
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
    if arg.startswith("rs"):
      rs_ladder(c, RS_RUNGS if arg == "rs" else int(arg[2:]))
  else:
    c.dataset, c.image_size = "digits", 32
    c.num_epochs, c.batch_size = 5, 64
    c.schedule.name = "cosine"
    c.steps_per_call, c.log_every_steps = 11, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 5, 0
  c.learning_rate = 0.1 * c.batch_size / 256  # linear scaling rule (Goyal et al. 2017)
  if arg in ("deep_training", "imagenet_deep_training"):
    c.num_epochs = 90 if arg == "imagenet_deep_training" else 6
    c.scheduled_args = {"act_lambda": {"kind": "deep_training", "decay_epochs": c.num_epochs // 3,
                                       "shape": "linear", "per_step": False}}
  return defaults.locked(c)


def rs_ladder(c, rungs: int) -> None:
  """The first `rungs` improvements of ResNet-RS Table 1 on the baseline."""
  c.batch_size = 4096
  c.schedule.boundaries_epochs = (30, 60, 80)
  kwargs = {}
  steps = [
      lambda: (setattr(c.schedule, "name", "warmup_cosine"), setattr(c.schedule, "warmup_epochs", 5.0)),
      lambda: setattr(c, "num_epochs", 350),
      lambda: setattr(c, "ema_decay", 0.9999),
      lambda: setattr(c, "label_smoothing", 0.1),
      lambda: kwargs.update(drop_path_rate=0.1),
      lambda: (setattr(c.aug, "randaugment_n", 2), setattr(c.aug, "randaugment_m", 10.0)),
      lambda: kwargs.update(drop_rate=0.25),
      lambda: setattr(c, "weight_decay", 4e-5),
      lambda: setattr(c, "model", "seresnet50"),
      lambda: setattr(c, "model", "resnetrs50"),
  ]
  for step in steps[:rungs]:
    step()
  c.model_kwargs = kwargs
