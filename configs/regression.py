"""Linear, logistic and softmax regression and the perceptron, trained by the same loop.

  python -m train.main --config configs/regression.py:linear --workdir /tmp/linear
Presets: `linear` (MSE on y = x w + b + 0.5 N(0, 1), 8 features; summary: eval_mse against eval_bayes_mse, the
noise floor), `logistic` (BCE on y ~ Bernoulli(sigmoid(x w + b)); eval_accuracy against eval_bayes_accuracy),
`softmax` (CE on the 8x8 digits flattened to 64 features; eval_accuracy), `perceptron` (Rosenblatt's rule: SGD on the
perceptron criterion in batches of 8, each update the mean of the rule's updates for its misclassified examples, on
linearly separable labels y = 1[x w + b > 0]; eval_accuracy).
"""
from train import defaults

PRESETS = ("linear", "logistic", "softmax", "perceptron")


def get_config(arg=None):
  defaults.check_preset(arg, (None, *PRESETS))
  kind = arg or "linear"
  c = defaults.base_config()
  c.model = "perceptron" if kind == "perceptron" else f"{kind}_regression"
  c.task = "regression"
  c.task_kwargs = {"kind": kind}
  c.image_size, c.image_channels = 8, 1
  c.num_epochs = 20
  c.batch_size = 64
  c.steps_per_call = 8
  c.optimizer.name = "momentum"
  c.learning_rate = 0.05
  c.schedule.name = "cosine"
  c.log_every_steps = 32
  c.checkpoint_every_steps = 0
  if kind == "perceptron":  # the rule itself: one example per update, fixed step, no momentum or decay
    c.optimizer.name, c.schedule.name, c.learning_rate = "sgd", "constant", 1.0
    c.batch_size, c.num_epochs, c.steps_per_call, c.log_every_steps = 8, 5, 32, 256
  return defaults.locked(c)
