"""GoogLeNet with both auxiliary classifiers (weight 0.3 on their losses, Szegedy et al. 2014 section 6).

Presets: `configs/googlenet.py` or `:digits` (a quick run), `:imagenet` (the paper's recipe: SGD momentum
0.9, learning rate decreased 4% every 8 epochs), `:paper` (the paper-faithful network, no BatchNorm).
"""
import ml_collections

PRESETS = ("digits", "imagenet", "paper")


def get_config(arg=None):
  preset = arg or "digits"
  if preset not in PRESETS:
    raise ValueError(f"unknown googlenet preset {preset!r}; accepted: {', '.join(PRESETS)}")
  c = ml_collections.ConfigDict()
  c.model = "googlenet_paper" if preset == "paper" else "googlenet"
  c.model_kwargs = ml_collections.ConfigDict({"aux_logits": True})
  c.aux_loss_weight = 0.3  # the trainer adds 0.3 x CE of each sown 'aux_logits' entry (aux1, aux2)
  c.seed = 0
  c.label_smoothing = 0.0
  c.optimizer = ml_collections.ConfigDict({"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": False})
  c.weight_decay = 1e-4  # not stated in the paper; the torchvision classification references use 1e-4
  if preset == "imagenet":
    c.dataset = "imagenet2012"
    c.image_size, c.image_channels = 224, 3
    c.num_epochs, c.batch_size = 90, 256
    c.schedule = ml_collections.ConfigDict({"name": "exponential", "decay_rate": 0.96, "decay_epochs": 8,
                                            "staircase": True, "warmup_epochs": 0})
  else:
    c.dataset = "digits"
    c.image_size, c.image_channels = 32, 1
    c.num_epochs, c.batch_size = 10, 64
    c.schedule = ml_collections.ConfigDict({"name": "cosine", "warmup_epochs": 1})
  return c
