"""HyperNetwork ResNet 40-1 (Ha et al. 2017, 97,882 parameters) on the embedded digits at 32x32x3.

  python -m train.main --config configs/hypernet.py --workdir /tmp/hypernet
Every 3x3 kernel of the residual blocks is generated from a 64-d embedding by the shared hypernetwork.
A few epochs on a CPU; the paper trains CIFAR-10 with augmentation for far longer.
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None,))
  c = defaults.base_config()
  c.model = "hyper_resnet40_1"
  c.dataset = "digits"
  c.image_size, c.image_channels = 32, 3
  c.num_epochs = 6
  c.batch_size = 32                  # 1437 // 32 = 44 steps per epoch
  c.eval_batch_size = 360
  c.steps_per_call = 11              # 44 steps per epoch
  c.optimizer.name = "adam"
  c.learning_rate = 2e-3
  c.schedule.name = "cosine"
  c.weight_decay = 5e-4
  c.log_every_steps = 0             # a train line at every epoch end
  c.checkpoint_every_steps = 0
  return defaults.locked(c)
