"""Every registered model: one pmap'd train step (image classifiers) or one gradient (the others) on a tiny
input, with a finite loss and a gradient reaching every parameter.

A train-mode BatchNorm subtracts the batch mean, so a bias right before it (ResNet-110's and VanillaNet's biased
convs, as in their references) gets an exactly zero gradient in training; such a parameter must then reach the
loss in eval mode, where BatchNorm uses its running statistics.

A new model is tested the moment it is registered (its input kind is in tests/helpers.py).
The smallest model of each family runs by default; the rest are marked slow (`pytest -m slow`).
"""
import dataclasses
import fnmatch

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from tests.helpers import FLAT_FEATURES, GRAPH, IMAGE_SIZE, LANGUAGE_MODELS, PARITY, SEQ2SEQ, matches, model_inputs
from train import step as step_lib, tasks

OTHER_INPUTS = PARITY + GRAPH + FLAT_FEATURES
# One cheap model per kind of network runs by default (each family's own test file checks its gradients);
# the rest, compile-heavy on CPU (DenseNet, GoogLeNet, 50+ layer ResNets), run with -m slow.
# The default run trains a cheap member of the families one step; the compile-heavy ones (ViT, Swin, ConvNeXt,
# MobileNet, VanillaNet, Wide and hypernetwork ResNets: 25-35 s each on CPU) run here with -m slow (the default run
# keeps their forward passes in test_contract.py, their reference parity, and MobileNet's and VanillaNet's learning
# in test_families_learn.py).
DEFAULT = {
    "lenet5", "resnet18", "preact_resnet18", "retnet_tiny", "tnn_tiny", "lstm_tiny",
    "transformer_lm_tiny", "hyper_lstm_tiny", "transformer_tiny", "lstm_seq2seq_tiny", "pondernet_parity", "gcn_tiny", "mlp",
    "linear_regression", "logistic_regression", "softmax_regression", "perceptron"}
# Switched off so that one fixed draw cannot drop a whole block and leave its parameters without gradient.
STOCHASTIC_FIELDS = ("drop_path_rate", "local_drop_rate", "global_drop_ratio")


def cases() -> list:
  return [pytest.param(name, marks=() if name in DEFAULT else (pytest.mark.slow,), id=name)
          for name in archs.list_models()]


def perturbed(params, key):
  """Parameters moved off their initial values (zero-initialised gammas would block gradients)."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(tree, [p + 0.05 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)])


def dead_leaves(paths_and_before, after):
  """Paths of the parameters that `after` leaves exactly as they were."""
  return [jax.tree_util.keystr(path) for (path, b), a in zip(paths_and_before, jax.tree.leaves(after))
          if np.array_equal(np.asarray(b), np.asarray(a))]


def image_model(name):
  module = archs.create_model(name)
  fields = {f.name for f in dataclasses.fields(module)}
  overrides = {f: 0.0 for f in STOCHASTIC_FIELDS if f in fields}
  if "num_classes" in fields:
    overrides["num_classes"] = 10
  return archs.create_model(name, **overrides)


def train_step_on_images(name):
  model = image_model(name)
  size = next((s for p, s in IMAGE_SIZE.items() if fnmatch.fnmatchcase(name, p)), 32)
  devices = jax.local_devices()[:2]
  rng = np.random.default_rng(0)
  batch = {"image": rng.standard_normal((2, 1, 2, size, size, 3), np.float32),
           "label": rng.integers(0, 10, (2, 1, 2)).astype(np.int32)}
  tx = optax.sgd(0.1)
  task = tasks.ClassificationTask()
  state = step_lib.init_state(task, model, tx, jax.tree.map(lambda x: x[0, 0, :1], batch), {}, 0, ema=False)
  state = state.replace(params=perturbed(state.params, jax.random.key(1)))
  before = jax.tree_util.tree_leaves_with_path(jax.device_get(state.params))
  train = step_lib.make_train_step(task, model, tx, devices=devices)
  state, metrics = train(step_lib.replicate(state, devices), batch, {})
  loss_sum, count = (np.asarray(v) for v in metrics["loss"])
  assert np.isfinite(loss_sum).all() and count[0].sum() == 4, f"{name}: loss {loss_sum} over {count} examples"
  dead = dead_leaves(before, jax.device_get(state.params))
  if dead:  # allowed only where a train-mode BatchNorm cancels them (module docstring)
    variables = jax.device_get({"params": state.params, **state.model_state})
    eval_grads = jax.jit(jax.grad(lambda p: jnp.sum(jnp.sin(model.apply(
        {**variables, "params": p}, batch["image"][0, 0], train=False)))))(variables["params"])
    zeros = jax.tree_util.tree_leaves_with_path(jax.tree.map(jnp.zeros_like, eval_grads))
    unreached = set(dead) & set(dead_leaves(zeros, eval_grads))
    assert not unreached, f"{name}: parameters reaching the loss neither in training nor in eval: {sorted(unreached)[:5]}"


def inputs_and_model(name):
  """(model, positional inputs) of a non-image model, built with the overrides the trainer would pass."""
  overrides, inputs, _ = model_inputs(name)
  return archs.create_model(name, **overrides), inputs


def gradient_of_outputs(name):
  model, inputs = inputs_and_model(name)
  keys = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  variables = model.init(keys, *inputs)
  params = perturbed(variables["params"], jax.random.key(2))
  rest = {k: v for k, v in variables.items() if k != "params"}

  def loss(p):
    out = model.apply({"params": p, **rest}, *inputs, mutable=list(rest))[0] if rest else \
        model.apply({"params": p}, *inputs)
    return sum(jnp.sum(jnp.sin(o.astype(jnp.float32))) for o in jax.tree.leaves(out)
               if jnp.issubdtype(o.dtype, jnp.floating))

  value, grads = jax.jit(jax.value_and_grad(loss))(params)
  assert np.isfinite(float(value)), f"{name}: non-finite output sum {value}"
  zeros = jax.tree.map(jnp.zeros_like, grads)
  dead = dead_leaves(jax.tree_util.tree_leaves_with_path(zeros), grads)
  assert not dead, f"{name}: parameters without gradient: {dead[:5]}"


@pytest.mark.parametrize("name", cases())
def test_model_trains_one_step(name):
  if matches(name, LANGUAGE_MODELS + SEQ2SEQ + OTHER_INPUTS):
    gradient_of_outputs(name)
  else:
    train_step_on_images(name)
