"""VGG-16 (configuration D), Simonyan & Zisserman 2014.

  python -m train.main --config configs/vgg16.py --workdir /tmp/vgg16            # digits, 32x32 (a quick run)
  python -m train.main --config configs/vgg16.py:bn --workdir /tmp/vgg16_bn      # vgg16_bn on digits
  python -m train.main --config configs/vgg16.py:imagenet --workdir /tmp/vgg16   # the paper's recipe
Paper (section 3.1): SGD momentum 0.9, weight decay 5e-4, batch 256, lr 1e-2 divided by 10 when the validation
accuracy stopped improving (three times in 74 epochs): here a step schedule at fixed epochs (30, 50, 65), an
approximation of "on plateau". On digits the 4096-wide head is narrowed to 256 (1,437 training images).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "bn", "imagenet"))
  c = defaults.base_config()
  c.model = "vgg16_bn" if arg == "bn" else "vgg16"
  c.model_kwargs.drop_rate = 0.5
  c.optimizer.name, c.optimizer.momentum = "momentum", 0.9
  c.weight_decay = 5e-4
  if arg == "imagenet":
    c.dataset, c.eval_split, c.image_size, c.image_channels, c.augment = "imagenet2012", "validation", 224, 3, True
    c.aug.crop, c.aug.interpolation, c.aug.crop_pct = "random_resized", "bilinear", 0.875  # ImageNet-style: crop, not pad
    c.num_epochs, c.batch_size, c.learning_rate = 74, 256, 0.01
    c.schedule.name, c.schedule.boundaries_epochs, c.schedule.decay_factor = "step", (30, 50, 65), 0.1
    c.dtype = "bfloat16"
    c.log_every_steps, c.checkpoint_every_steps = 100, 2000
  else:
    c.dataset, c.image_size, c.image_channels = "digits", 32, 1  # five 2x2 pools need >= 32x32
    c.model_kwargs.hidden = 256
    c.num_epochs, c.batch_size, c.learning_rate = 10, 64, 0.01
    c.schedule.name, c.schedule.warmup_epochs = "warmup_cosine", 1.0
    c.steps_per_call, c.log_every_steps = 11, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 10, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 10, 0
  return defaults.locked(c)
