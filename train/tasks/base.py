"""The task interface and the helpers tasks share. A task is what is learned: it owns the data, the batch format,
the model inputs, the loss and the metrics.

The loop and the pmap'd step never look inside a batch; they call these methods:

  datasets(config) -> (train_source, eval_source, info)
      random-access sources of example dicts (see train/data.py), the whole data set (the trainer takes each
      host's rows); `info` holds what the model needs (e.g. num_classes) and is passed to `model_overrides`.
  model_overrides(config, info) -> dict   fields for archs.create_model (e.g. num_classes).
  init_inputs(batch) -> tuple             positional model inputs for model.init, from a (small) batch.
  loss_fn(model, variables, batch, rngs, train, scheduled_args) -> (loss, (metrics, new_model_state))
      per-device scalar loss to differentiate; metrics = {name: (sum, count)}; new_model_state = the
      updated mutable collections other than 'params' (e.g. batch_stats); scheduled_args = scheduled values
      (scalars) passed to the model as keyword arguments.
  eval_metrics(model, variables, batch, scheduled_args) -> metrics
      {name: (sum, count)} over the examples with batch['mask'] == 1 (padding added by the loop has mask 0).
  summarize(metrics) -> {name: float}     from summed (sum, count) pairs to the numbers that are logged.
  tokens_per_example(example) -> int     tokens a train example carries (0: not a sequence task), for tokens/s.
  data_name -> str                       the data it trains on, for summary.json; '' = `config.dataset`, which
                                         only such tasks read (a task with its own data refuses another one).

Metrics are (sum, count) pairs so that devices, steps and batches reduce by plain addition and every example
counts once. To add a task: subclass `Task` in a module of its own, implement these, register it in
train/tasks/__init__.py (`TASKS`).
"""
from __future__ import annotations

import jax.numpy as jnp

from archs import losses
from train import errors


class Task:
  name = "task"
  data_name = ""  # '' = reads config.dataset

  @classmethod
  def from_config(cls, config):
    return cls()

  def datasets(self, config):
    raise NotImplementedError

  def model_overrides(self, config, info) -> dict:
    return {}

  def init_inputs(self, batch) -> tuple:
    raise NotImplementedError

  def loss_fn(self, model, variables, batch, rngs, train: bool, scheduled_args):
    raise NotImplementedError

  def eval_metrics(self, model, variables, batch, scheduled_args):
    raise NotImplementedError

  def summarize(self, metrics) -> dict:
    return {name: float(s) / max(float(n), 1.0) for name, (s, n) in metrics.items()}

  def tokens_per_example(self, example) -> int:
    return 0


def task_options(config, defaults: dict, task: str) -> dict:
  """`defaults` updated with config.task_kwargs; a key the task does not know is a UserError."""
  given = dict(config.task_kwargs)
  for key in given:
    if key not in defaults:
      raise errors.unknown(f"task_kwargs key for task {task!r}:", key, defaults)
  return {**defaults, **given}


def other_collections(variables) -> dict:
  """The non-'params' collections, unchanged (these tasks' models keep no batch statistics)."""
  return {k: v for k, v in variables.items() if k != "params"}


def token_metrics(logits, targets, weights, label_smoothing: float = 0.0):
  """{loss, accuracy} as (sum, count) over the tokens with weight 1, and the mean loss to differentiate."""
  ce = losses.softmax_cross_entropy(logits, targets, label_smoothing)
  correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
  n = weights.sum()
  metrics = {"loss": ((ce * weights).sum(), n), "accuracy": ((correct * weights).sum(), n)}
  return (ce * weights).sum() / jnp.maximum(n, 1.0), metrics
