"""Semi-supervised node classification (GCN on Zachary's karate club, train/graph_data.py).

Options come from `config.task_kwargs` (unknown keys are errors); metrics are (sum, count) pairs over nodes.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from archs import losses
from train import data, errors, graph_data
from train.tasks.base import Task, other_collections, task_options


class GraphTask(Task):
  """Semi-supervised node classification on Zachary's karate club (train/graph_data.py) for `archs.gcn` models.

  Every example is the whole graph with its train/test node masks; a train epoch is `steps_per_epoch` batches of
  batch_size copies (each device's copies share its dropout key; devices differ). Loss: CE over train nodes.
  Metrics over nodes: train `loss`/`accuracy` on the labelled nodes, eval `loss`/`accuracy` on the test nodes.
  """
  name = "graph"
  data_name = "karate_club"
  DEFAULTS = dict(graph="karate", steps_per_epoch=10)

  def __init__(self, batch_size: int = 1, **options):
    self.batch_size = batch_size
    self.options = {**self.DEFAULTS, **options}
    if self.options["graph"] != "karate":
      raise errors.unknown("graph", self.options["graph"], ["karate"])

  @classmethod
  def from_config(cls, config):
    return cls(config.batch_size, **task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config):
    g = graph_data.karate_club()
    g = {**g, "train_mask": g["train_mask"].astype(np.float32), "test_mask": g["test_mask"].astype(np.float32)}
    copies = lambda n: data.ArraySource({k: np.repeat(v[None], n, axis=0) for k, v in g.items()})
    return copies(self.batch_size * self.options["steps_per_epoch"]), copies(1), {"num_classes": 2}

  def model_overrides(self, config, info):
    return {"num_classes": info["num_classes"]}

  def init_inputs(self, batch):
    return batch["node_features"][0], batch["edges"][0]

  def _node_metrics(self, model, variables, batch, node_mask, train, rngs, scheduled_args):
    apply = lambda f, e: model.apply(variables, f, e, train=train, rngs=rngs, **scheduled_args)
    logits = jax.vmap(apply)(batch["node_features"], batch["edges"])  # (graphs, nodes, classes)
    ce = losses.softmax_cross_entropy(logits, batch["labels"])
    correct = (jnp.argmax(logits, -1) == batch["labels"]).astype(jnp.float32)
    n = node_mask.sum()
    metrics = {"loss": ((ce * node_mask).sum(), n), "accuracy": ((correct * node_mask).sum(), n)}
    return (ce * node_mask).sum() / jnp.maximum(n, 1.0), metrics

  def loss_fn(self, model, variables, batch, rngs, train, scheduled_args):
    loss, metrics = self._node_metrics(model, variables, batch, batch["train_mask"], train, rngs, scheduled_args)
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, scheduled_args):
    node_mask = batch["test_mask"] * batch["mask"].astype(jnp.float32)[:, None]
    return self._node_metrics(model, variables, batch, node_mask, False, None, scheduled_args)[1]
