"""ResNet-18 and Wide ResNet-28-10 on CIFAR-10, the recipes behind their known accuracies.

  python -m train.main --config configs/cifar10_resnet.py:resnet18 --workdir /tmp/r18_cifar
  python -m train.main --config configs/cifar10_resnet.py:wrn28_10 --workdir /tmp/wrn_cifar
Both: tfds cifar10 (prepare it first, README), pad-4 random crop + flip, CIFAR mean/std, SGD momentum 0.9,
lr 0.1 at batch 128, weight decay 5e-4, 200 epochs, bf16 compute.

`resnet18` (kuangliu/pytorch-cifar: cosine over 200 epochs, plain momentum; its README: 95.44%, not measured
here): archs' resnet18 with `stem='cifar'` as kuangliu's (one 3x3/1 conv, no max pool, so 32x32 reaches the last
stage at 4x4; 11,173,962 parameters, as theirs). Differs: none known but the weight decay's reach (below).
`wrn28_10` (Zagoruyko & Komodakis 2016, szagoruyko/wide-residual-networks: Nesterov, lr x0.2 at epochs 60, 120,
160, dropout 0.3; the paper's error 3.89%, i.e. 96.1%, not measured here). Differs: zero padding for the crop as
the paper (their Lua code's default); none known otherwise.
Both differ in the weight decay's reach: biases and BN scales are not decayed here (both references decay all).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "resnet18", "wrn28_10"))  # none: resnet18
  c = defaults.base_config()
  c.dataset, c.image_size, c.image_channels = "cifar10", 32, 3
  c.augment, c.aug.crop, c.aug.pad, c.aug.flip = True, "pad", 4, True
  c.num_epochs, c.batch_size, c.learning_rate, c.weight_decay = 200, 128, 0.1, 5e-4
  c.optimizer.name, c.optimizer.momentum = "momentum", 0.9
  c.dtype = "bfloat16"
  # 50000 // 128 = 390 steps per epoch; 6 per device call
  c.steps_per_call, c.log_every_steps, c.checkpoint_every_steps = 6, 390, 3900
  if arg in (None, "resnet18"):
    c.model, c.model_kwargs = "resnet18", {"stem": "cifar"}
    c.schedule.name = "cosine"
  else:
    c.model = "wide_resnet28_10"
    c.model_kwargs = {"drop_rate": 0.3}
    c.optimizer.name = "nesterov"
    c.schedule.name, c.schedule.boundaries_epochs, c.schedule.decay_factor = "step", (60, 120, 160), 0.2
  return defaults.locked(c)
