"""The parity task of PonderNet (Banino et al. 2021, sec. 3.1) for `archs.pondernet` models.

Options come from `config.task_kwargs` (unknown keys are errors); metrics are (sum, count) pairs.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from archs import losses
from archs.pondernet import parity_batch
from train import data, errors
from train.tasks.base import Task, other_collections, task_options


def parity_examples(key, indices, n_elems: int):
  """Example i of the stream with base `key`: parity_batch(fold_in(key, i), 1, n_elems), for every i in indices."""
  x, y = jax.vmap(lambda i: parity_batch(jax.random.fold_in(key, i), 1, n_elems))(indices)
  return x[:, 0], y[:, 0]


class ParityTask(Task):
  """The parity task of PonderNet (Banino et al. 2021, sec. 3.1) for `archs.pondernet` models.

  Train batches carry only example indices: example i is generated on the device from fold_in(PRNGKey(seed), i),
  so the stream is a pure function of (seed, step) through the epoch shuffle. The eval set is fixed (eval_seed).
  Loss: archs.losses.ponder_loss of the per-step BCE, options lambda_p, beta, kl_direction, renormalize_prior.
  Metrics: `accuracy` and `ponder_steps` with SAMPLED halting (eval only: the paper's inference, each step halts
  with probability lambda_n; keys fixed per batch), and `expected_accuracy` (sign of sum_n p_n sigmoid(y_n) - 1/2)
  and `expected_ponder_steps` (sum_n n p_n) without sampling, in train and eval.
  """
  name = "parity"
  data_name = "parity"
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

  def datasets(self, config):
    o = self.options
    train = data.ArraySource({"index": np.arange(o["train_examples"], dtype=np.int32)})
    index = np.arange(o["eval_examples"], dtype=np.int32)
    x, y = jax.jit(parity_examples, static_argnums=2)(jax.random.PRNGKey(o["eval_seed"]), index, o["n_elems"])
    test = data.ArraySource({"index": index, "x": np.asarray(x), "y": np.asarray(y)})
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

  def loss_fn(self, model, variables, batch, rngs, train, scheduled_args):
    o = self.options
    x, y = parity_examples(jax.random.PRNGKey(self.seed), batch["index"], o["n_elems"])
    out = model.apply(variables, x, train=train, rngs=rngs, **scheduled_args)
    step_losses, _, correct = self._per_example(out, y)
    loss, parts = losses.ponder_loss(step_losses, out["p"], lambda_p=o["lambda_p"], beta=o["beta"],
                                     kl_direction=o["kl_direction"], renormalize_prior=o["renormalize_prior"])
    n = jnp.float32(y.shape[0])
    metrics = {"loss": (loss * n, n), "reconstruction": (parts["reconstruction"] * n, n),
               "regularization": (parts["regularization"] * n, n), "expected_accuracy": (correct.sum(), n),
               "expected_ponder_steps": (out["expected_steps"].sum(), n)}
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, scheduled_args):
    mask = batch["mask"].astype(jnp.float32)
    key = jax.random.fold_in(jax.random.PRNGKey(self.options["eval_seed"]), batch["index"][0])
    out = model.apply(variables, batch["x"], train=False, sample_halting=True, rngs={"dropout": key}, **scheduled_args)
    _, per_example, correct = self._per_example(out, batch["y"])
    sampled_correct = ((out["halted_logits"] > 0) == (batch["y"] == 1)).astype(jnp.float32)
    n = mask.sum()
    total = lambda v: ((v * mask).sum(), n)
    return {"loss": total(per_example), "accuracy": total(sampled_correct),
            "ponder_steps": total(out["halt_step"].astype(jnp.float32)), "expected_accuracy": total(correct),
            "expected_ponder_steps": total(out["expected_steps"])}
