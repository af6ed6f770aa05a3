"""Vision Transformer, the paper's ImageNet-1k training from scratch (Dosovitskiy et al. 2021, Table 3 and
Appendix B.1): Adam(0.9, 0.999) with decoupled weight decay 0.3, batch 4096, base lr 3e-3, 10k linear warmup steps
then cosine decay, 300 epochs, dropout 0.1, gradient clipping at global norm 1.

  python -m train.main --config configs/vit.py --workdir /tmp/vit                         # digits, 32x32x3
  python -m train.main --config configs/vit.py:imagenet --workdir ...                     # ViT-B/16, the recipe
  python -m train.main --config configs/vit.py:imagenet --config.model=vit_small_patch16_224 --workdir ...
Default: ViT-Ti scaled to the embedded digits: 4x4 patches of a 32x32 image (an 8x8 token grid; 16x16 patches
would leave 2x2 tokens), position embeddings learned for 32x32, AdamW 1e-3 (assumptions for this toy setting).
"""
from train import defaults

IMAGENET_STEPS_PER_EPOCH = 1_281_167 / 4096


def get_config(arg=None):
  defaults.check_preset(arg, (None, "imagenet"))
  c = defaults.base_config()
  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.9, 0.999, 1e-8
  c.schedule.name = "warmup_cosine"
  c.grad_clip_norm = 1.0
  c.image_channels = 3
  if arg == "imagenet":
    c.model = "vit_base_patch16_224"
    c.model_kwargs = {"drop_rate": 0.1}
    c.weight_decay = 0.3
    c.dataset, c.eval_split, c.image_size, c.augment = "imagenet2012", "validation", 224, True
    c.aug.crop, c.aug.interpolation, c.aug.crop_pct = "random_resized", "bicubic", 0.9  # ImageNet-style: crop, not pad
    c.num_epochs, c.batch_size = 300, 4096
    c.schedule.warmup_epochs = 10_000 / IMAGENET_STEPS_PER_EPOCH  # 10k steps
    c.learning_rate = 3e-3
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
  else:
    c.model = "vit_tiny_patch16_224"
    c.model_kwargs = {"patch_size": 4, "img_size": 32}
    c.weight_decay = 0.05
    c.dataset, c.image_size = "digits", 32
    c.num_epochs, c.batch_size = 10, 64
    c.schedule.warmup_epochs = 1.0
    c.learning_rate = 1e-3
    c.steps_per_call, c.log_every_steps = 11, 0  # a train line at each epoch end; K one-step calls on CPU
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 5, 0
  return defaults.locked(c)
