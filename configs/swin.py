"""Swin Transformer, the paper's ImageNet-1k recipe (Liu et al. 2021, Sec. 4.1 and Appendix A2.1): AdamW, batch
1024, lr 1e-3, 20 linear warmup epochs then cosine decay, 300 epochs, weight decay 0.05, gradient clipping at
global norm 5, label smoothing 0.1, stochastic depth 0.2 / 0.3 / 0.5 for Swin-T / S / B.

  python -m train.main --config configs/swin.py --workdir /tmp/swin                       # digits, 32x32x3
  python -m train.main --config configs/swin.py:imagenet --workdir ...                    # Swin-T, the recipe
Default: Swin-T scaled to the embedded digits with 4x4 windows (a 32x32 image gives an 8x8 map in the first
stage: 7x7 windows would pad it to 14x14; the last stage's 1x1 map attends to itself only); AdamW 1e-3 and 1 warmup
epoch (assumptions for this toy setting).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "imagenet"))
  c = defaults.base_config()
  c.model = "swin_tiny_patch4_window7_224"
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.9, 0.999, 1e-8
  c.weight_decay = 0.05
  c.label_smoothing = 0.1
  c.grad_clip_norm = 5.0
  c.schedule.name = "warmup_cosine"
  c.schedule.min_lr = 1e-5
  c.image_channels = 3
  c.learning_rate = 1e-3
  if arg == "imagenet":
    c.model_kwargs = {"drop_path_rate": 0.2}
    c.dataset, c.eval_split, c.image_size, c.augment = "imagenet2012", "validation", 224, True
    c.aug.crop, c.aug.interpolation, c.aug.crop_pct = "random_resized", "bicubic", 0.9  # ImageNet-style: crop, not pad
    c.num_epochs, c.batch_size = 300, 1024
    c.schedule.warmup_epochs = 20.0
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
  else:
    c.model_kwargs = {"window_size": 4, "drop_path_rate": 0.1}
    c.schedule.min_lr = 1e-6
    c.dataset, c.image_size = "digits", 32
    c.num_epochs, c.batch_size = 10, 64
    c.schedule.warmup_epochs = 1.0
    c.steps_per_call, c.log_every_steps = 11, 0  # a train line at each epoch end; K one-step calls on CPU
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 5, 0
  return defaults.locked(c)
