"""Linear, logistic and softmax regression and the perceptron on synthetic data (or the embedded digits, softmax).

Options come from `config.task_kwargs` (unknown keys are errors); metrics are (sum, count) pairs.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from archs import losses
from archs.perceptron import perceptron_criterion
from train import data, errors
from train.tasks.base import Task, other_collections, task_options


REGRESSIONS = ("linear", "logistic", "softmax", "perceptron")


def regression_data(kind: str, num: int, n_features: int, noise: float, seed) -> dict[str, np.ndarray]:
  """Synthetic sets from a fixed true model (data_seed); x ~ N(0, I).
  linear: y = x w + b + noise N(0, 1), y_clean = x w + b.  logistic: y ~ Bernoulli(sigmoid(x w + b)).
  perceptron: y = 1[x w + b > 0], linearly separable (no label noise)."""
  truth = np.random.default_rng([seed[0], 99])  # the same true model for train and eval
  w, b = truth.standard_normal(n_features).astype(np.float32), np.float32(0.5)
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((num, n_features)).astype(np.float32)
  clean = x @ w + b
  if kind == "linear":
    return {"x": x, "y": (clean + noise * rng.standard_normal(num)).astype(np.float32), "y_clean": clean}
  if kind == "perceptron":
    return {"x": x, "y": (clean > 0).astype(np.int32), "y_clean": clean}
  return {"x": x, "y": (rng.random(num) < 1.0 / (1.0 + np.exp(-clean))).astype(np.int32), "y_clean": clean}


class RegressionTask(Task):
  """Linear (MSE), logistic (BCE) or softmax (CE) regression, or the perceptron (its criterion, archs/perceptron.py):
  batches {'x': (B, ...) float, 'y'}.

  task_kwargs: kind; linear/logistic: synthetic data (n_features, noise, train_examples, eval_examples, data_seed);
  softmax: the embedded digits flattened (config.image_size 8 keeps the 64 raw pixels, normalized).
  Metrics: `loss`; linear: `mse` and `bayes_mse` (of the true noiseless line, the floor); logistic and softmax:
  `accuracy`, logistic also `bayes_accuracy` (of the true model's decision); perceptron: `accuracy`.
  """
  name = "regression"
  DEFAULTS = dict(kind="linear", n_features=8, noise=0.5, train_examples=2048, eval_examples=512, data_seed=0)

  def __init__(self, **options):
    self.options = {**self.DEFAULTS, **options}
    if self.options["kind"] not in REGRESSIONS:
      raise errors.unknown("regression kind", self.options["kind"], REGRESSIONS)
    self.data_name = "" if self.options["kind"] == "softmax" else f"synthetic_{self.options['kind']}"

  @classmethod
  def from_config(cls, config):
    return cls(**task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config):
    o = self.options
    if o["kind"] == "softmax":
      train, test, info = data.image_classification(config)
      rename = lambda src: data.ArraySource({"x": np.stack([src[i]["image"] for i in range(len(src))]),
                                             "y": np.array([src[i]["label"] for i in range(len(src))], np.int32)})
      return rename(train), rename(test), info
    make = lambda num, tag: data.ArraySource(regression_data(o["kind"], num, o["n_features"], o["noise"],
                                                             [o["data_seed"], tag]))
    train, test = make(o["train_examples"], 0), make(o["eval_examples"], 1)
    return train, test, {}

  def model_overrides(self, config, info):
    return {"num_classes": info["num_classes"]} if self.options["kind"] == "softmax" else {}

  def init_inputs(self, batch):
    return (batch["x"],)

  def _metrics(self, model, variables, batch, weights, train, rngs, scheduled_args):
    out = model.apply(variables, batch["x"], train=train, rngs=rngs, **scheduled_args)
    kind, y, n = self.options["kind"], batch["y"], weights.sum()
    total = lambda v: ((v * weights).sum(), n)
    if kind == "linear":
      per_example = losses.mse(out[:, 0], y)
      metrics = {"mse": total(per_example), "bayes_mse": total(losses.mse(batch["y_clean"], y))}
    elif kind == "logistic":
      per_example = losses.binary_cross_entropy_with_logits(out, y)
      metrics = {"accuracy": total(((out > 0) == (y == 1)).astype(jnp.float32)),
                 "bayes_accuracy": total(((batch["y_clean"] > 0) == (y == 1)).astype(jnp.float32))}
    elif kind == "perceptron":
      per_example = perceptron_criterion(out, y)
      metrics = {"accuracy": total(((out > 0) == (y == 1)).astype(jnp.float32))}
    else:
      per_example = losses.softmax_cross_entropy(out, y)
      metrics = {"accuracy": total((jnp.argmax(out, -1) == y).astype(jnp.float32))}
    metrics["loss"] = total(per_example)
    return (per_example * weights).sum() / jnp.maximum(n, 1.0), metrics

  def loss_fn(self, model, variables, batch, rngs, train, scheduled_args):
    weights = jnp.ones(batch["y"].shape, jnp.float32)
    loss, metrics = self._metrics(model, variables, batch, weights, train, rngs, scheduled_args)
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, scheduled_args):
    return self._metrics(model, variables, batch, batch["mask"].astype(jnp.float32), False, None, scheduled_args)[1]
