"""Scheduled arguments change every epoch without retracing the step; aux logits add to the loss."""
import json

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from train import defaults, tasks, trainer


class TinyLambdaNet(nn.Module):
  """act(x) = (1 - lam) relu(x) + lam x, lam = VanillaNet's act_lambda (a traced __call__ argument)."""
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, act_lambda=1.0):
    h = nn.Dense(8)(x.reshape(x.shape[0], -1))
    h = (1 - act_lambda) * nn.relu(h) + act_lambda * h
    return nn.Dense(self.num_classes)(h)


class TinyAuxNet(nn.Module):
  """Sows two auxiliary logits in train mode, as GoogLeNet's auxiliary classifiers do."""
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    h = x.reshape(x.shape[0], -1)
    if train:
      self.sow("aux_logits", "first", nn.Dense(self.num_classes, name="aux1")(h))
      self.sow("aux_logits", "second", nn.Dense(self.num_classes, name="aux2")(h))
    return nn.Dense(self.num_classes, name="head")(h)


def _config(model):
  c = defaults.base_config()
  c.model, c.dataset, c.image_size = model, "synthetic", 8
  c.synthetic_examples, c.batch_size, c.steps_per_call, c.num_epochs = 64, 16, 2, 3
  c.num_devices, c.log_every_steps, c.checkpoint_every_steps = 2, 2, 0
  c.scheduled_args = {"act_lambda": {"kind": "deep_training", "decay_epochs": 3, "shape": "linear", "per_step": False}}
  return c


def test_changing_scheduled_args_never_retraces(tmp_path, monkeypatch, temporary_model):
  # Scheduled values are data, not constants of the program: the steps are traced once for 3 epochs (the train
  # step's loss twice: to compile, and once by step.py's probe for convolutions on XLA:CPU).
  for method, traces in (("loss_fn", 2), ("eval_metrics", 1)):
    monkeypatch.setattr(tasks.ClassificationTask, method,
                        chex.assert_max_traces(getattr(tasks.ClassificationTask, method), n=traces))
  summary = trainer.train_and_evaluate(_config(temporary_model(TinyLambdaNet, "_test_tiny_lambda")),
                                       str(tmp_path / "run"))
  assert summary["steps"] == 12 and summary["steps_per_call"] == 2
  train_lines = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl") if '"train"' in l]
  seen = sorted({round(l["act_lambda"], 4) for l in train_lines})
  assert seen == [0.0, 0.3333, 0.6667], f"act_lambda per epoch should be 0, 1/3, 2/3; logged {seen}"


def test_aux_logits_loss_is_weighted_ce():
  model = TinyAuxNet()
  rng = np.random.default_rng(0)
  batch = {"image": rng.standard_normal((4, 4, 4, 1), np.float32), "label": np.array([0, 3, 9, 3], np.int32)}
  variables = model.init(jax.random.PRNGKey(0), batch["image"], train=True)
  variables = {"params": variables["params"]}
  task = tasks.ClassificationTask(label_smoothing=0.0, aux_loss_weight=0.3)
  loss, (metrics, _) = task.loss_fn(model, variables, batch, {}, True, {})

  def ce(name):  # the dense reference: -log softmax at the label, averaged
    p = variables["params"][name]
    logits = batch["image"].reshape(4, -1) @ p["kernel"] + p["bias"]
    return -np.mean(np.take_along_axis(jax.nn.log_softmax(logits), batch["label"][:, None], 1))
  expected = ce("head") + 0.3 * (ce("aux1") + ce("aux2"))
  np.testing.assert_allclose(loss, expected, rtol=1e-5, err_msg="loss = CE + 0.3 (CE aux1 + CE aux2)")
  eval_loss = task.eval_metrics(model, variables, {**batch, "mask": np.ones(4)}, {})["loss"]
  np.testing.assert_allclose(eval_loss[0] / eval_loss[1], ce("head"), rtol=1e-5, err_msg="eval: no aux loss")
