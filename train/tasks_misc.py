"""Parity (PonderNet), graph node classification (GCN on the karate club) and the three regressions.

Options come from `config.task_kwargs` (unknown keys are errors); metrics are (sum, count) pairs (train/tasks.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from archs import losses
from archs.pondernet import parity_batch
from train import data, errors, graph_data, tasks
from train.tasks_sequence import other_collections, task_options


# ---------------------------------------------------------------- parity
def parity_examples(key, indices, n_elems: int):
  """Example i of the stream with base `key`: parity_batch(fold_in(key, i), 1, n_elems), for every i in indices."""
  x, y = jax.vmap(lambda i: parity_batch(jax.random.fold_in(key, i), 1, n_elems))(indices)
  return x[:, 0], y[:, 0]


class ParityTask(tasks.Task):
  """The parity task of PonderNet (Banino et al. 2021, sec. 3.1) for `archs.pondernet` models.

  Train batches carry only example indices: example i is generated on the device from fold_in(PRNGKey(seed), i),
  so the stream is a pure function of (seed, step) through the epoch shuffle. The eval set is fixed (eval_seed).
  Loss: archs.losses.ponder_loss of the per-step BCE, options lambda_p, beta, kl_direction, renormalize_prior.
  Metrics: `accuracy` and `ponder_steps` with SAMPLED halting (eval only: the paper's inference, each step halts
  with probability lambda_n; keys fixed per batch), and `expected_accuracy` (sign of sum_n p_n sigmoid(y_n) - 1/2)
  and `expected_ponder_steps` (sum_n n p_n) without sampling, in train and eval.
  """
  name = "parity"
  DEFAULTS = dict(n_elems=8, train_examples=51200, eval_examples=2048, eval_seed=4321, lambda_p=0.2, beta=0.01,
                  kl_direction="forward", renormalize_prior=True)

  def __init__(self, seed: int = 0, **options):
    self.seed = seed
    self.options = {**self.DEFAULTS, **options}
    if self.options["kl_direction"] not in losses.KL_DIRECTIONS:
      raise errors.unknown("kl_direction", self.options["kl_direction"], losses.KL_DIRECTIONS)

  @classmethod
  def from_config(cls, config):
    return cls(config.seed, **task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config, process_index, process_count):
    o = self.options
    train = data.ArraySource({"index": np.arange(o["train_examples"], dtype=np.int32)})
    index = np.arange(o["eval_examples"], dtype=np.int32)
    x, y = jax.jit(parity_examples, static_argnums=2)(jax.random.PRNGKey(o["eval_seed"]), index, o["n_elems"])
    test = data.ArraySource({"index": index, "x": np.asarray(x), "y": np.asarray(y)})
    if process_count > 1:
      train, test = data.Shard(train, process_index, process_count), data.Shard(test, process_index, process_count)
    return train, test, {}

  def init_inputs(self, batch):
    return (jnp.zeros((batch["index"].shape[0], self.options["n_elems"]), jnp.float32),)

  def _per_example(self, out, y):
    """Per-step BCE (N, B), per-example ponder loss (B,), expected-output correctness (B,)."""
    o = self.options
    step_losses = losses.binary_cross_entropy_with_logits(out["logits"], jnp.broadcast_to(y, out["logits"].shape))
    prior = losses.geometric_prior(o["lambda_p"], out["p"].shape[0], o["renormalize_prior"])
    per_example = (jnp.sum(out["p"] * step_losses, axis=0)
                   + o["beta"] * losses.ponder_kl(out["p"], prior, o["kl_direction"]))
    expected_prob = jnp.sum(out["p"] * jax.nn.sigmoid(out["logits"]), axis=0)
    correct = ((expected_prob > 0.5) == (y == 1)).astype(jnp.float32)
    return step_losses, per_example, correct

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    o = self.options
    x, y = parity_examples(jax.random.PRNGKey(self.seed), batch["index"], o["n_elems"])
    out = model.apply(variables, x, train=train, rngs=rngs, **hparams)
    step_losses, _, correct = self._per_example(out, y)
    loss, parts = losses.ponder_loss(step_losses, out["p"], lambda_p=o["lambda_p"], beta=o["beta"],
                                     kl_direction=o["kl_direction"], renormalize_prior=o["renormalize_prior"])
    n = jnp.float32(y.shape[0])
    metrics = {"loss": (loss * n, n), "reconstruction": (parts["reconstruction"] * n, n),
               "regularization": (parts["regularization"] * n, n), "expected_accuracy": (correct.sum(), n),
               "expected_ponder_steps": (out["expected_steps"].sum(), n)}
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, hparams):
    mask = batch["mask"].astype(jnp.float32)
    key = jax.random.fold_in(jax.random.PRNGKey(self.options["eval_seed"]), batch["index"][0])
    out = model.apply(variables, batch["x"], train=False, sample_halting=True, rngs={"dropout": key}, **hparams)
    _, per_example, correct = self._per_example(out, batch["y"])
    sampled_correct = ((out["halted_logits"] > 0) == (batch["y"] == 1)).astype(jnp.float32)
    n = mask.sum()
    total = lambda v: ((v * mask).sum(), n)
    return {"loss": total(per_example), "accuracy": total(sampled_correct),
            "ponder_steps": total(out["halt_step"].astype(jnp.float32)), "expected_accuracy": total(correct),
            "expected_ponder_steps": total(out["expected_steps"])}


# ---------------------------------------------------------------- graph node classification
class GraphTask(tasks.Task):
  """Semi-supervised node classification on Zachary's karate club (train/graph_data.py) for `archs.gcn` models.

  Every example is the whole graph with its train/test node masks; a train epoch is `steps_per_epoch` batches of
  batch_size copies (each device's copies share its dropout key; devices differ). Loss: CE over train nodes.
  Metrics over nodes: train `loss`/`accuracy` on the labelled nodes, eval `loss`/`accuracy` on the test nodes.
  """
  name = "graph"
  DEFAULTS = dict(graph="karate", steps_per_epoch=10)

  def __init__(self, batch_size: int = 1, **options):
    self.batch_size = batch_size
    self.options = {**self.DEFAULTS, **options}
    if self.options["graph"] != "karate":
      raise errors.unknown("graph", self.options["graph"], ["karate"])

  @classmethod
  def from_config(cls, config):
    return cls(config.batch_size, **task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config, process_index, process_count):
    g = graph_data.karate_club()
    g = {**g, "train_mask": g["train_mask"].astype(np.float32), "test_mask": g["test_mask"].astype(np.float32)}
    copies = lambda n: data.ArraySource({k: np.repeat(v[None], n, axis=0) for k, v in g.items()})
    per_host = self.batch_size // process_count
    return copies(per_host * self.options["steps_per_epoch"]), copies(1), {"num_classes": 2}

  def model_overrides(self, config, info):
    return {"num_classes": info["num_classes"]}

  def init_inputs(self, batch):
    return batch["node_features"][0], batch["edges"][0]

  def _node_metrics(self, model, variables, batch, node_mask, train, rngs, hparams):
    apply = lambda f, e: model.apply(variables, f, e, train=train, rngs=rngs, **hparams)
    logits = jax.vmap(apply)(batch["node_features"], batch["edges"])  # (graphs, nodes, classes)
    ce = losses.softmax_cross_entropy(logits, batch["labels"])
    correct = (jnp.argmax(logits, -1) == batch["labels"]).astype(jnp.float32)
    n = node_mask.sum()
    metrics = {"loss": ((ce * node_mask).sum(), n), "accuracy": ((correct * node_mask).sum(), n)}
    return (ce * node_mask).sum() / jnp.maximum(n, 1.0), metrics

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    loss, metrics = self._node_metrics(model, variables, batch, batch["train_mask"], train, rngs, hparams)
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, hparams):
    node_mask = batch["test_mask"] * batch["mask"].astype(jnp.float32)[:, None]
    return self._node_metrics(model, variables, batch, node_mask, False, None, hparams)[1]


# ---------------------------------------------------------------- regressions
REGRESSIONS = ("linear", "logistic", "softmax")


def regression_data(kind: str, num: int, n_features: int, noise: float, seed) -> dict[str, np.ndarray]:
  """Synthetic sets from a fixed true model (data_seed); x ~ N(0, I).
  linear: y = x w + b + noise N(0, 1), y_clean = x w + b.  logistic: y ~ Bernoulli(sigmoid(x w + b))."""
  truth = np.random.default_rng([seed[0], 99])  # the same true model for train and eval
  w, b = truth.standard_normal(n_features).astype(np.float32), np.float32(0.5)
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((num, n_features)).astype(np.float32)
  clean = x @ w + b
  if kind == "linear":
    return {"x": x, "y": (clean + noise * rng.standard_normal(num)).astype(np.float32), "y_clean": clean}
  return {"x": x, "y": (rng.random(num) < 1.0 / (1.0 + np.exp(-clean))).astype(np.int32), "y_clean": clean}


class RegressionTask(tasks.Task):
  """Linear (MSE), logistic (BCE) or softmax (CE) regression: batches {'x': (B, ...) float, 'y'}.

  task_kwargs: kind; linear/logistic: synthetic data (n_features, noise, train_examples, eval_examples, data_seed);
  softmax: the embedded digits flattened (config.image_size 8 keeps the 64 raw pixels, normalized).
  Metrics: `loss`; linear: `mse` and `bayes_mse` (of the true noiseless line, the floor); logistic and softmax:
  `accuracy`, logistic also `bayes_accuracy` (of the true model's decision).
  """
  name = "regression"
  DEFAULTS = dict(kind="linear", n_features=8, noise=0.5, train_examples=2048, eval_examples=512, data_seed=0)

  def __init__(self, **options):
    self.options = {**self.DEFAULTS, **options}
    if self.options["kind"] not in REGRESSIONS:
      raise errors.unknown("regression kind", self.options["kind"], REGRESSIONS)

  @classmethod
  def from_config(cls, config):
    return cls(**task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config, process_index, process_count):
    o = self.options
    if o["kind"] == "softmax":
      train, test, info = data.image_classification(config, process_index, process_count)
      rename = lambda src: data.ArraySource({"x": np.stack([src[i]["image"] for i in range(len(src))]),
                                             "y": np.array([src[i]["label"] for i in range(len(src))], np.int32)})
      return rename(train), rename(test), info
    make = lambda num, tag: data.ArraySource(regression_data(o["kind"], num, o["n_features"], o["noise"],
                                                             [o["data_seed"], tag]))
    train, test = make(o["train_examples"], 0), make(o["eval_examples"], 1)
    if process_count > 1:
      train, test = data.Shard(train, process_index, process_count), data.Shard(test, process_index, process_count)
    return train, test, {}

  def model_overrides(self, config, info):
    return {"num_classes": info["num_classes"]} if self.options["kind"] == "softmax" else {}

  def init_inputs(self, batch):
    return (batch["x"],)

  def _metrics(self, model, variables, batch, weights, train, rngs, hparams):
    out = model.apply(variables, batch["x"], train=train, rngs=rngs, **hparams)
    kind, y, n = self.options["kind"], batch["y"], weights.sum()
    total = lambda v: ((v * weights).sum(), n)
    if kind == "linear":
      per_example = losses.mse(out[:, 0], y)
      metrics = {"mse": total(per_example), "bayes_mse": total(losses.mse(batch["y_clean"], y))}
    elif kind == "logistic":
      per_example = losses.binary_cross_entropy_with_logits(out, y)
      metrics = {"accuracy": total(((out > 0) == (y == 1)).astype(jnp.float32)),
                 "bayes_accuracy": total(((batch["y_clean"] > 0) == (y == 1)).astype(jnp.float32))}
    else:
      per_example = losses.softmax_cross_entropy(out, y)
      metrics = {"accuracy": total((jnp.argmax(out, -1) == y).astype(jnp.float32))}
    metrics["loss"] = total(per_example)
    return (per_example * weights).sum() / jnp.maximum(n, 1.0), metrics

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    weights = jnp.ones(batch["y"].shape, jnp.float32)
    loss, metrics = self._metrics(model, variables, batch, weights, train, rngs, hparams)
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, hparams):
    return self._metrics(model, variables, batch, batch["mask"].astype(jnp.float32), False, None, hparams)[1]
