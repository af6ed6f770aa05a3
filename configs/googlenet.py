"""GoogLeNet with both auxiliary classifiers (Szegedy et al. 2014): the trainer adds aux_loss_weight = 0.3 x the
cross-entropy of each classifier the model sows into 'aux_logits' in training (paper section 5).

  python -m train.main --config configs/googlenet.py --workdir /tmp/googlenet          # digits, 32x32 (quick)
  python -m train.main --config configs/googlenet.py:paper --workdir /tmp/gnet_paper   # no-BN paper network
  python -m train.main --config configs/googlenet.py:imagenet --workdir /tmp/googlenet # the paper's recipe
Paper (section 6): asynchronous SGD, momentum 0.9, learning rate decreased by 4% every 8 epochs: a step schedule
with a boundary every 8 epochs and factor 0.96. Weight decay is not stated in the paper; 1e-4 as in the
torchvision references.
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "paper", "imagenet"))
  c = defaults.base_config()
  c.model = "googlenet_paper" if arg == "paper" else "googlenet"
  c.model_kwargs.aux_logits = True
  c.aux_loss_weight = 0.3
  c.optimizer.name, c.optimizer.momentum = "momentum", 0.9
  c.weight_decay = 1e-4
  if arg == "imagenet":
    c.dataset, c.eval_split, c.image_size, c.image_channels, c.augment = "imagenet2012", "validation", 224, 3, True
    c.aug.crop, c.aug.interpolation, c.aug.crop_pct = "random_resized", "bilinear", 0.875  # ImageNet-style: crop, not pad
    c.num_epochs, c.batch_size, c.learning_rate = 90, 256, 0.01
    c.schedule.name, c.schedule.decay_factor = "step", 0.96
    c.schedule.boundaries_epochs = tuple(range(8, c.num_epochs, 8))
    c.dtype = "bfloat16"
    c.log_every_steps, c.checkpoint_every_steps = 100, 2000
  else:
    c.dataset, c.image_size, c.image_channels = "digits", 32, 1
    c.num_epochs, c.batch_size, c.learning_rate = 10, 64, 0.01
    c.schedule.name, c.schedule.warmup_epochs = "warmup_cosine", 1.0
    c.steps_per_call, c.log_every_steps = 11, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 10, 0
    c.checkpoint_every_epochs, c.checkpoint_every_steps = 10, 0
  return defaults.locked(c)
