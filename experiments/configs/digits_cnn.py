"""Small CNNs on the embedded digits for the experiments: CIFAR ResNets with and without shortcuts, a narrow VGG,
an MLP.

  python -m train.main --config experiments/configs/digits_cnn.py:plain56_cifar
Presets:
- `resnet{20,32,44,56,110}_cifar` / `plain{...}_cifar`: He et al. 2015's CIFAR recipe (SGD momentum 0.9, lr 0.1,
  weight decay 1e-4, batch 128 -> 64 here) on the digits at their own 8x8 resolution, 3 channels (CIFAR ResNets
  take any size: 8x8 costs 1/16 of 32x32, which a shared 2-core CPU needs for the 56-layer nets; the last stage
  sees 2x2 maps), 10 epochs with a cosine schedule (the paper: steps at 32k and 48k of 64k iterations). The plain nets are the same networks without the identity shortcuts
  (the degradation experiment, paper Fig. 6); both start from the same seed.
- `vgg11_quarter`: VGG-11 with BatchNorm (configuration A, `vgg11_bn`) at a quarter of the widths (16, 32, 64-64,
  128-128, 128-128) and a 128-wide head with dropout 0.5, 32x32x1 (five 2x2 pools need 32), SGD momentum 0.9,
  lr 0.01, warmup + cosine: the VGG-16 digits config's recipe at a width this CPU trains in minutes. Without BN
  (`vgg11`) this recipe stayed at chance (7.8% after 3 epochs, measured), as the paper's deep nets without
  initialisation from shallower ones.
- `mlp`: one hidden layer of 128 ReLU units on the raw 8x8 digits (64 inputs), SGD momentum 0.9, lr 0.05.
"""
import archs
from train import defaults

CIFAR_RESNETS = tuple(archs.list_models("resnet*_cifar")) + tuple(archs.list_models("plain*_cifar"))


def get_config(arg=None):
  defaults.check_preset(arg, (*CIFAR_RESNETS, "vgg11_quarter", "mlp"))
  c = defaults.base_config()
  c.dataset, c.batch_size = "digits", 64
  c.optimizer.name, c.optimizer.momentum = "momentum", 0.9
  c.steps_per_call, c.log_every_steps = 11, 0          # 1437 // 64 = 22 steps per epoch: a train line per epoch
  c.schedule.name = "cosine"
  if arg in CIFAR_RESNETS:
    c.model = arg
    c.image_size, c.image_channels = 8, 3
    c.num_epochs, c.learning_rate, c.weight_decay = 10, 0.1, 1e-4
  elif arg == "vgg11_quarter":
    c.model = "vgg11_bn"
    c.model_kwargs = {"stages": ((16,), (32,), (64, 64), (128, 128), (128, 128)), "hidden": 128, "drop_rate": 0.5}
    c.image_size, c.image_channels = 32, 1
    c.num_epochs, c.learning_rate, c.weight_decay = 10, 0.01, 5e-4
    c.schedule.name, c.schedule.warmup_epochs = "warmup_cosine", 1.0
  else:
    c.model = "mlp"
    c.model_kwargs = {"hidden_sizes": (128,)}
    c.image_size, c.image_channels = 8, 1
    c.num_epochs, c.learning_rate, c.weight_decay = 20, 0.05, 5e-4
  c.checkpoint_every_epochs, c.checkpoint_every_steps = c.num_epochs, 0  # one checkpoint, at the end
  return defaults.locked(c)
