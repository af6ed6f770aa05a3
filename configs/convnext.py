"""ConvNeXt, the paper's ImageNet-1k recipe (Liu et al. 2022, appendix Table 5; facebookresearch/ConvNeXt main.py).

  python -m train.main --config configs/convnext.py --workdir /tmp/convnext                 # digits, 32x32x3
  python -m train.main --config configs/convnext.py --config.model=convnext_small --workdir ...
  python -m train.main --config configs/convnext.py:imagenet --workdir ...                 # the paper's recipe
  python -m train.main --config configs/convnext.py:cifar10 --workdir ...                  # scaled to CIFAR-10

`imagenet` (ImageNet-1k, 224, paper top-1: T 82.1, S 83.1, B 83.8; not measured here): AdamW lr 4e-3 at batch
4096, betas (0.9, 0.999), weight decay 0.05, 300 epochs, 20 warmup epochs then cosine to 1e-6, RandAugment
rand-m9-mstd0.5-inc1 (2 ops), mixup 0.8, cutmix 1.0 (switch 0.5), random erasing 0.25, label smoothing 0.1,
stochastic depth 0.1/0.4/0.5/0.5 (T/S/B/L), layer scale 1e-6, EMA 0.9999 optional (off, as the paper's headline
T/S/B numbers), random-resized crop (0.08-1, 3/4-4/3, bicubic) + flip, evaluation at crop_pct 0.875 (resize 256,
centre 224). Differs: bf16 compute (the paper: fp32 weights with AMP, the same role); LR warmup per step from 0
(timm: from a tiny value); one draw of lam per device batch of the global batch (timm per process, the same);
mixup pairs within a device's batch (as timm within a GPU's).
`cifar10` (a scaled recipe, no paper number; not measured here): convnext_tiny at 32x32 (the 4x4/4 stem gives 8x8,
the last stage 1x1), batch 400 (125 steps per epoch, 5 per call), lr 2e-3 (an assumption: the paper's linear
rule, 4e-3 x 400 / 4096 = 4e-4, is meant for 300 ImageNet epochs), 100 epochs, 5 warmup epochs, drop path 0.1, RandAugment 9/0.5, mixup 0.8, cutmix 1.0, erasing 0.25,
label smoothing 0.1, pad-4 crop + flip, CIFAR mean/std.
Default (no argument): scaled down to the embedded digits; the linear-scaled lr of a 64 batch (6e-5) is too small
to learn in a few epochs, so it uses 2e-3 (an assumption for this toy setting, not the paper's number).
"""
from train import defaults

DROP_PATH = {"convnext_tiny": 0.1, "convnext_small": 0.4, "convnext_base": 0.5, "convnext_large": 0.5,
             "convnext_xlarge": 0.5}


def paper_augmentation(c, crop: str):
  """RandAugment 9/0.5 (2 ops), mixup 0.8, cutmix 1.0, erasing 0.25: ConvNeXt main.py's defaults."""
  c.augment = True
  c.aug.crop = crop
  c.aug.randaugment_n, c.aug.randaugment_m, c.aug.randaugment_mstd = 2, 9.0, 0.5
  c.aug.mixup, c.aug.cutmix, c.aug.mix_prob, c.aug.switch_prob = 0.8, 1.0, 1.0, 0.5
  c.aug.erasing = 0.25


def get_config(arg=None):
  defaults.check_preset(arg, (None, "imagenet", "cifar10"))
  c = defaults.base_config()
  c.model = "convnext_tiny"
  c.model_kwargs = {"drop_path_rate": DROP_PATH[c.model]}  # set it with --config.model_kwargs.drop_path_rate
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.9, 0.999, 1e-8
  c.weight_decay = 0.05
  c.label_smoothing = 0.1
  c.schedule.name = "warmup_cosine"
  c.schedule.min_lr = 1e-6
  c.image_channels = 3
  if arg == "imagenet":
    c.dataset, c.eval_split, c.image_size = "imagenet2012", "validation", 224
    paper_augmentation(c, "random_resized")
    c.aug.interpolation, c.aug.crop_pct = "bicubic", 0.875
    c.num_epochs, c.batch_size = 300, 4096
    c.schedule.warmup_epochs = 20.0
    c.learning_rate = 4e-3 * c.batch_size / 4096
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
  elif arg == "cifar10":
    c.dataset, c.image_size = "cifar10", 32
    paper_augmentation(c, "pad")
    c.num_epochs, c.batch_size = 100, 400
    c.schedule.warmup_epochs = 5.0
    c.learning_rate = 2e-3
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 5, 125, 1250
  else:
    c.dataset, c.image_size = "digits", 32
    c.num_epochs, c.batch_size = 10, 64
    c.schedule.warmup_epochs = 1.0
    c.learning_rate = 2e-3
    c.steps_per_call, c.log_every_steps = 11, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 5, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 5, 0
  return defaults.locked(c)
