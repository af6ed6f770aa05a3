"""VGG-16 (configuration D). Presets: `configs/vgg16.py` or `:digits` (a quick run), `:imagenet` (the
paper's recipe, Simonyan & Zisserman 2014 section 3.1), `:bn` (vgg16_bn on digits).
"""
import ml_collections

PRESETS = ("digits", "imagenet", "bn")


def get_config(arg=None):
  preset = arg or "digits"
  if preset not in PRESETS:
    raise ValueError(f"unknown vgg16 preset {preset!r}; accepted: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.model = "vgg16_bn" if preset == "bn" else "vgg16"
  c.model_kwargs = ml_collections.ConfigDict({"drop_rate": 0.5})
  c.seed = 0
  c.label_smoothing = 0.0
  c.aux_loss_weight = 0.0
  # SGD with momentum 0.9, weight decay 5e-4, lr 1e-2 divided by 10 on plateaus (three times in 74 epochs);
  # here as a step schedule at fixed epochs.
  c.optimizer = ml_collections.ConfigDict({"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": False})
  c.weight_decay = 5e-4
  if preset == "imagenet":
    c.dataset = "imagenet2012"
    c.image_size, c.image_channels = 224, 3
    c.num_epochs, c.batch_size = 74, 256
    c.schedule = ml_collections.ConfigDict({"name": "step", "boundaries_epochs": (30, 50, 65), "factor": 0.1,
                                            "warmup_epochs": 0})
  else:
    # Five 2x2 pools need at least 32x32 inputs; the adaptive pool then repeats the 1x1 map to 7x7.
    c.dataset = "digits"
    c.image_size, c.image_channels = 32, 1
    c.num_epochs, c.batch_size = 10, 64
    c.schedule = ml_collections.ConfigDict({"name": "cosine", "warmup_epochs": 1})
    c.model_kwargs.hidden = 256  # a 4096-wide head on 1,797 images would be mostly memorisation
  return c
