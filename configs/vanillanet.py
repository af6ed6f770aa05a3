"""VanillaNet's ImageNet recipe (ARCHITECTURES.md 1.7), scaled to the embedded 8x8 digits.

  python -m train.main --config configs/vanillanet.py --workdir /tmp/vanillanet
  python -m train.main --config configs/vanillanet.py:vanillanet_9 --workdir /tmp/v9   # or --config.model=...

Reference (huawei-noah/VanillaNet README, main.py): LAMB, batch 1024, 300 epochs, lr 3.5e-3 (V5), weight decay
0.35, 5 warmup epochs then cosine per step to 1e-6, deep-training lambda linear 0 -> 1 over decay_epochs=100
(a third of the run, then 1), dropout 0.05, label smoothing 0.1, EMA 0.99996. Scaled here:
- digits: 1437 training images upsampled to 32x32x3; 32 is the smallest size that every variant's total
  stride of 32 (4x4/4 stem, three stride-2 blocks) divides: stem 8x8, last blocks 1x1. The ada_pool variant
  is made for 224 (stem 75x75); at 32 its adaptive pools (38, 19, 10) upsample an 11x11 stem: it runs, but
  give it `--config.image_size=224` for its real geometry.
- 30 epochs, decay_epochs 10 (the reference's one third), warmup 1 epoch. Lambda reaches 1 at epoch 10, so
  the last 20 epochs train the model that `to_deploy` fuses exactly (deploy == train only at lambda 1).
- width_multiplier 1/8 (V5: 64, 128, 256, 512 channels): the full V5 (22M train-form parameters) costs
  ~1 GFLOP per image step at 32x32, tens of seconds per epoch on a 2-core CPU; 1/8 costs 64x less.
  Measured (this config, 1 CPU device, 2 cores): 68 s, eval accuracy 99.72% and deploy (fused) eval
  accuracy 99.72%, equal eval losses (0.51398). The structure (depth, strides, activations, fusion) is unchanged;
  `--config.model_kwargs.width_multiplier=1.0` trains the reference widths.
- lr 1.5e-2 (reference 3.5e-3 at batch 1024 over ~375k steps). LAMB's lr is the relative change of each
  layer's weights per step (trust ratio ||w|| / ||update||), so a 660-step run needs larger steps, not the
  usual smaller-batch reduction (the search is in BUILD.md, VanillaNet).
  Weight decay 0.35 as V5 (LAMB's decoupled decay; skips 1-D params: biases and BN scales; the depthwise
  activation kernels are decayed, as in the reference).
- No EMA (the reference's 0.99996 averages over ~25k steps, longer than this whole 660-step run). Measured with
  EMA 0.99 (params and BN statistics averaged, as timm's ModelEma): the EMA model stays at chance until epoch 16
  while lambda sweeps 0 -> 1, and reaches 99.4% only at epoch 28. `--config.ema_decay=0.99` turns it on.
Not reproduced on digits (the embedded arrays take pad-crop + flip only): RandAugment, mixup, cutmix, erasing.

`imagenet` (the authors' V5 recipe, huawei-noah/VanillaNet README and main.py; their V5 top-1 72.49 in deploy
form is the README's, not measured here): full width, 224 (random-resized crop bicubic + flip; evaluation
crop_pct 0.875), LAMB lr 3.5e-3 at batch 1024 as timm's Lamb (the trust ratio only on decayed parameters, the
gradient's global norm clipped to 1: its max_grad_norm), weight decay 0.35, 300 epochs, 5 warmup epochs then
cosine per step to 1e-6, lambda linear over the first 100 epochs per epoch, dropout 0.05, RandAugment
rand-m7-mstd0.5-inc1 (2 ops), mixup 0.1, cutmix 1.0, erasing 0.25, label smoothing 0.1 (in the mixed targets),
binary cross-entropy on those targets (--bce_loss), EMA 0.99996.
`imagenet_6` .. `imagenet_10`: the README's commands for the other sizes with training code (lr, weight decay,
mixup; V6 and V7 with layer-wise lr decay 0.8 over their 4 and 5 stages: stem lr x 0.8^(n+1), stage i x
0.8^(n-i), head x 1). Differs: evaluation on the EMA only (the authors report the better of EMA and raw); bf16.
`cifar10` (a scaled recipe, no paper number; not measured here): vanillanet_5 at full width and 32x32 (stem 8x8,
last blocks 1x1), batch 400, 200 epochs, lambda over the first 66 (a third, as the authors), LAMB lr 5e-3 (an
assumption), weight decay 0.35 -> 0.05 (an assumption: the authors' 0.35 is for 300 ImageNet epochs), 5 warmup
epochs, RandAugment 7/0.5, mixup 0.1, cutmix 1.0, erasing 0.25, pad-4 crop + flip, no EMA; the authors' BCE loss
and timm's Lamb (trust ratio on decayed parameters, gradient norm clipped to 1) as `imagenet`.
"""
import archs
from train import defaults

# The authors' README commands per size: (lr, weight decay, mixup alpha, layer decay); all at batch 1024.
AUTHORS = {5: (3.5e-3, 0.35, 0.1, 1.0), 6: (4.8e-3, 0.32, 0.15, 0.8), 7: (4.7e-3, 0.35, 0.4, 0.8),
           8: (3.5e-3, 0.3, 0.4, 1.0), 9: (3.5e-3, 0.3, 0.4, 1.0), 10: (3.5e-3, 0.25, 0.4, 1.0)}
IMAGENET = {"imagenet": 5, **{f"imagenet_{k}": k for k in AUTHORS if k != 5}}


def get_config(arg=None):
  """arg: a registered VanillaNet name (default vanillanet_5), the `imagenet` (V5), `imagenet_6` .. `imagenet_10`
  or `cifar10` recipe."""
  defaults.check_preset(arg, (None, *IMAGENET, "cifar10", *archs.list_models("vanillanet_*")))
  c = defaults.base_config()
  c.model = arg if arg and arg.startswith("vanillanet_") else "vanillanet_5"
  c.model_kwargs = {"width_multiplier": 1 / 8, "drop_rate": 0.05}
  c.dataset = "digits"
  c.image_size, c.image_channels = 32, 3
  c.num_epochs = 30
  c.batch_size = 64
  c.steps_per_call = 11            # 1437 // 64 = 22 steps per epoch
  c.optimizer.name = "lamb"
  c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.9, 0.999, 1e-8
  c.learning_rate = 1.5e-2                   # see the docstring: short LAMB runs need larger steps
  c.schedule.name = "warmup_cosine"
  c.schedule.warmup_epochs = 1.0
  c.schedule.min_lr = 1e-6
  c.weight_decay = 0.35
  c.label_smoothing = 0.1
  c.ema_decay = 0.0
  # Deep training (paper 3.2): lambda = epoch / decay_epochs, constant within an epoch, 1 from then on.
  c.scheduled_args = {"act_lambda": {"kind": "deep_training", "decay_epochs": 10, "shape": "linear", "per_step": False}}
  c.export_deploy = True
  c.log_every_steps = 0             # a train line at every epoch end
  c.checkpoint_every_epochs, c.checkpoint_every_steps = 10, 0
  if arg in IMAGENET:
    c.model = f"vanillanet_{IMAGENET[arg]}"
    recipe(c, "imagenet")
  elif arg == "cifar10":
    recipe(c, arg)
  return defaults.locked(c)


def recipe(c, dataset: str) -> None:
  """The authors' augmentation and schedule (imagenet), or their scaled form (cifar10); see the docstring."""
  c.model_kwargs = {"drop_rate": 0.05}  # full width
  c.augment = True
  c.aug.randaugment_n, c.aug.randaugment_m, c.aug.randaugment_mstd = 2, 7.0, 0.5
  c.aug.mixup, c.aug.cutmix, c.aug.erasing = 0.1, 1.0, 0.25
  c.schedule.warmup_epochs = 5.0
  c.loss, c.optimizer.lamb_adapt, c.grad_clip_norm = "bce", "decayed", 1.0  # --bce_loss; timm's Lamb
  c.dtype = "bfloat16"
  if dataset == "imagenet":
    c.dataset, c.eval_split, c.image_size = "imagenet2012", "validation", 224
    c.aug.crop, c.aug.interpolation, c.aug.crop_pct = "random_resized", "bicubic", 0.875
    c.num_epochs, c.batch_size = 300, 1024
    c.learning_rate, c.weight_decay, c.aug.mixup, c.optimizer.layer_decay = AUTHORS[int(c.model.split("_")[1])]
    c.ema_decay = 0.99996
    c.scheduled_args.act_lambda.decay_epochs = 100
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
    c.checkpoint_every_epochs = 0
  else:
    c.dataset, c.image_size = "cifar10", 32
    c.aug.crop = "pad"
    c.num_epochs, c.batch_size, c.learning_rate, c.weight_decay = 200, 400, 5e-3, 0.05
    c.scheduled_args.act_lambda.decay_epochs = 66
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 5, 125, 1250
    c.checkpoint_every_epochs = 0
