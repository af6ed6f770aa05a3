"""Tasks: what is learned. A task owns the batch format, the model inputs, the loss and the metrics.

The loop and the pmap'd step never look inside a batch; they call these methods:

  datasets(config, process_index, process_count) -> (train_source, eval_source, info)
      random-access sources of example dicts (see train/data.py) for this host; `info` holds what the
      model needs (e.g. num_classes) and is passed to `model_overrides`.
  model_overrides(config, info) -> dict   fields for archs.create_model (e.g. num_classes).
  init_inputs(batch) -> tuple             positional model inputs for model.init, from a (small) batch.
  loss_fn(model, variables, batch, rngs, train, hparams) -> (loss, (metrics, new_model_state))
      per-device scalar loss to differentiate; metrics = {name: (sum, count)}; new_model_state = the
      updated mutable collections other than 'params' (e.g. batch_stats); hparams = scheduled values
      (scalars) passed to the model as keyword arguments.
  eval_metrics(model, variables, batch, hparams) -> metrics
      {name: (sum, count)} over the examples with batch['mask'] == 1 (padding added by the loop has mask 0).
  summarize(metrics) -> {name: float}     from summed (sum, count) pairs to the numbers that are logged.

Metrics are (sum, count) pairs so that devices, steps and batches reduce by plain addition and every example
counts once. To add a task: subclass `Task`, implement these, register it in `TASKS`.
"""
from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp

from archs import losses
from train import data, errors, mixing


class Task:
  name = "task"

  def datasets(self, config, process_index: int, process_count: int):
    raise NotImplementedError

  def model_overrides(self, config, info) -> dict:
    return {}

  def init_inputs(self, batch) -> tuple:
    raise NotImplementedError

  def loss_fn(self, model, variables, batch, rngs, train: bool, hparams):
    raise NotImplementedError

  def eval_metrics(self, model, variables, batch, hparams):
    raise NotImplementedError

  def summarize(self, metrics) -> dict:
    return {name: float(s) / max(float(n), 1.0) for name, (s, n) in metrics.items()}

class ClassificationTask(Task):
  """Images -> class labels. Batches: {'image': (B, H, W, C) float, 'label': (B,) int [, 'mask': (B,)]}.

  Loss: cross-entropy with label smoothing, plus aux_loss_weight x CE of every logits array the model sows
  into 'aux_logits' in train mode (GoogLeNet's auxiliary classifiers). Metrics: loss, accuracy (top-1).
  """
  name = "classification"

  def __init__(self, label_smoothing: float = 0.0, aux_loss_weight: float = 0.3, mix=None):
    self.label_smoothing = label_smoothing
    self.aux_loss_weight = aux_loss_weight
    self.mix = mix  # train/mixing.py: mixup/cutmix of the batch on the device, soft targets

  def datasets(self, config, process_index, process_count):
    return data.image_classification(config, process_index, process_count)

  def model_overrides(self, config, info):
    self.num_classes = info["num_classes"]  # the width of mixup's soft targets
    return {"num_classes": info["num_classes"]}

  def init_inputs(self, batch):
    return (batch["image"],)

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    rngs = dict(rngs)
    mix_key, images = rngs.pop("mix", None), batch["image"]
    if self.mix is not None and train:
      images, targets = self.mix(mix_key, images, batch["label"], self.num_classes, self.label_smoothing)
      ce_fn = lambda logits: mixing.soft_cross_entropy(logits, targets)
    else:
      ce_fn = lambda logits: losses.softmax_cross_entropy(logits, batch["label"], self.label_smoothing)
    logits, new_state = model.apply(variables, images, train=train, rngs=rngs,
                                    mutable=["batch_stats", "aux_logits"], **hparams)
    new_state = dict(new_state)
    aux_logits = jax.tree.leaves(new_state.pop("aux_logits", {}))
    ce = ce_fn(logits).mean()
    aux = [ce_fn(a).mean() for a in aux_logits]
    loss = ce + self.aux_loss_weight * sum(aux)
    n = jnp.float32(logits.shape[0])
    correct = jnp.sum(jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    metrics = {"loss": (loss * n, n), "accuracy": (correct, n)}
    return loss, (metrics, new_state)

  def eval_metrics(self, model, variables, batch, hparams):
    logits = model.apply(variables, batch["image"], train=False, **hparams)
    mask = batch["mask"].astype(jnp.float32)
    ce = losses.softmax_cross_entropy(logits, batch["label"], self.label_smoothing)
    correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    n = mask.sum()
    return {"loss": ((ce * mask).sum(), n), "accuracy": ((correct * mask).sum(), n)}


def _elsewhere(module: str, cls: str):
  """`cls.from_config` of train/<module>.py, imported on first use (those modules import this one)."""
  return lambda config: getattr(importlib.import_module(f"train.{module}"), cls).from_config(config)


TASKS = {"classification": lambda config: ClassificationTask(config.label_smoothing, config.aux_loss_weight,
                                                             mixing.Mixing.from_config(config)),
         "seq2seq": _elsewhere("tasks_sequence", "Seq2SeqTask"),
         "lm": _elsewhere("tasks_sequence", "LanguageModelTask"),
         "parity": _elsewhere("tasks_misc", "ParityTask"),
         "graph": _elsewhere("tasks_misc", "GraphTask"),
         "regression": _elsewhere("tasks_misc", "RegressionTask")}


def create_task(config) -> Task:
  errors.check_name("task", config.task, TASKS)
  return TASKS[config.task](config)
