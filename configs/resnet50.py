"""ResNet-50, torchvision / Flax-ImageNet recipe: SGD momentum 0.9, lr 0.1 x batch / 256, weight decay 1e-4.

  python -m train.main --config configs/resnet50.py --workdir /tmp/resnet50          # digits, 32x32x3
  python -m train.main --config configs/resnet50.py:imagenet --workdir /tmp/r50      # the full recipe
Default (no argument): scaled down to the embedded digits (32x32, gray replicated to 3 channels, 5 epochs).
`imagenet`: 90 epochs at 224x224, batch 1024, 5 warmup epochs then cosine (Goyal et al. 2017; the Flax
ImageNet example; torchvision's original recipe steps the lr x0.1 at epochs 30, 60, 80: `--config.schedule.name=step`),
label smoothing 0.1 (torchvision's newer recipe; 0 in the original). Prepare imagenet2012 with tfds first.
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "imagenet"))
  c = defaults.base_config()
  c.model = "resnet50"
  c.optimizer.name = "momentum"   # Flax ImageNet uses nesterov=True: --config.optimizer.name=nesterov
  c.optimizer.momentum = 0.9
  c.weight_decay = 1e-4           # L2 on kernels only (biases and BN scales skipped)
  c.image_channels = 3
  if arg == "imagenet":
    c.dataset, c.eval_split, c.image_size, c.augment = "imagenet2012", "validation", 224, True
    c.num_epochs, c.batch_size = 90, 1024
    c.schedule.name, c.schedule.warmup_epochs = "warmup_cosine", 5.0
    c.label_smoothing = 0.1
    c.dtype = "bfloat16"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 8, 100, 2000
  else:
    c.dataset, c.image_size = "digits", 32
    c.num_epochs, c.batch_size = 5, 64
    c.schedule.name = "cosine"
    c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 11, 22, 110
  c.learning_rate = 0.1 * c.batch_size / 256  # linear scaling rule (Goyal et al. 2017)
  return defaults.locked(c)
