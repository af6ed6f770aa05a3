"""GCN (Kipf & Welling 2017) semi-supervised node classification on Zachary's karate club.

  python -m train.main --config configs/gcn.py --workdir /tmp/gcn
Two labelled nodes (the leaders 0 and 33); eval accuracy is over the 32 other nodes. 200 full-graph steps of
Adam(0.01) as kipf/gcn (weight decay 5e-4 here applies to both layers' kernels, kipf/gcn's to the first only).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None,))
  c = defaults.base_config()
  c.model = "gcn_tiny"               # 34 -> 16 -> 2, ReLU, dropout 0.5
  c.task = "graph"
  c.task_kwargs = {"graph": "karate", "steps_per_epoch": 10}
  c.num_epochs = 20                  # 20 x 10 = 200 steps
  c.batch_size = 1                   # one graph per step (a multiple of the device count on N devices)
  c.steps_per_call = 10
  c.optimizer.name = "adamw"
  c.learning_rate = 0.01
  c.weight_decay = 5e-4
  c.schedule.name = "constant"
  c.log_every_steps = 50
  c.checkpoint_every_steps = 0
  return defaults.locked(c)
