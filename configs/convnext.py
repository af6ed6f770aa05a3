"""ConvNeXt, the paper's ImageNet-1k recipe (Liu et al. 2022, Table 5 of the appendix; facebookresearch/ConvNeXt):
AdamW lr 4e-3 x batch / 4096, weight decay 0.05, 20 warmup epochs + cosine to 1e-6, drop path 0.1 (tiny),
label smoothing 0.1, EMA 0.9999 optional (off here), 300 epochs.

  python -m train.main --config configs/convnext.py --workdir /tmp/convnext                 # digits, 32x32x3
  python -m train.main --config configs/convnext.py --config.model=convnext_small --workdir ...
  python -m train.main --config configs/convnext.py:imagenet --workdir ...                 # the full recipe
Default: scaled down to the embedded digits; the linear-scaled lr of a 64 batch (6e-5) is too small to learn in
a few epochs, so it uses 2e-3 (an assumption for this toy setting, not the paper's number).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "imagenet"))
  c = defaults.base_config()
  c.model = "convnext_tiny"
  c.model_kwargs = {"drop_path_rate": 0.1}  # 0.4 for small, 0.5 for base in the paper
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.9, 0.999, 1e-8
  c.weight_decay = 0.05
  c.label_smoothing = 0.1
  c.schedule.name = "warmup_cosine"
  c.schedule.min_lr = 1e-6
  c.image_channels = 3
  if arg == "imagenet":
    c.dataset, c.eval_split, c.image_size, c.augment = "imagenet2012", "validation", 224, True
    c.num_epochs, c.batch_size = 300, 4096
    c.schedule.warmup_epochs = 20.0
    c.learning_rate = 4e-3 * c.batch_size / 4096
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
  else:
    c.dataset, c.image_size = "digits", 32
    c.num_epochs, c.batch_size = 10, 64
    c.schedule.warmup_epochs = 1.0
    c.learning_rate = 2e-3
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 11, 22, 110
  return defaults.locked(c)
