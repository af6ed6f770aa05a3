"""Helpers shared by several test files (a test file never imports another test file).

- `model_inputs(name)`: what the trainer passes to a registered model (its overrides) and a tiny input for it.
- `randomize_variables`, `calibrated_random_variables`: non-trivial variables for fusion (deploy) tests.
Test-only models are registered through the `temporary_model` fixture (tests/conftest.py), which removes them.
"""
import fnmatch

import jax
import jax.numpy as jnp
import numpy as np

# Input kind of every non-image model (fnmatch patterns); every other registered model is an NHWC image
# classifier. A new model of another kind fails tests/test_contract.py until it is given its kind here.
LANGUAGE_MODELS = ("retnet_*", "tnn_*", "lstm_*", "transformer_lm_*", "hyper_lstm*")
SEQ2SEQ = ("transformer_tiny", "transformer_base", "lstm_seq2seq_*")  # checked before LANGUAGE_MODELS
PARITY = ("pondernet_*",)
GRAPH = ("gcn*",)
FLAT_FEATURES = ("mlp", "*_regression", "perceptron")
# Image models that need more than 32x32 (AlexNet/ZFNet reach 6x6 before FC6 only from 224; Swin's last stage
# at 32x32 is a 1x1 map, whose attention over one token leaves its queries and keys without gradient).
IMAGE_SIZE = {"alexnet*": 224, "zfnet*": 224, "swin_*": 64}
VOCAB, CLASSES = 32, 7  # output sizes unlike any default, so a test sees that the override took effect


def matches(name, patterns):
  return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def model_inputs(name, batch=2):
  """(overrides the trainer's task would pass, positional inputs, expected leading output shape or None).

  The expected shape is the output's for `model.apply(variables, *inputs)`, output size included; None where the
  output is a dict (PonderNet) checked by its own test file.
  """
  rng = np.random.default_rng(0)
  if matches(name, SEQ2SEQ):
    tokens = lambda: jnp.asarray(rng.integers(3, VOCAB, (batch, 6)), jnp.int32)
    return {"vocab_size": VOCAB, "pad_id": 0}, (tokens(), tokens()), (batch, 6, VOCAB)
  if matches(name, LANGUAGE_MODELS):
    return {"vocab_size": VOCAB}, (jnp.asarray(rng.integers(1, VOCAB, (batch, 8)), jnp.int32),), (batch, 8, VOCAB)
  if matches(name, PARITY):
    return {}, (jnp.asarray(rng.choice([-1.0, 0.0, 1.0], (batch, 8)), jnp.float32),), None
  if matches(name, GRAPH):
    edges = np.array([[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2]], np.int32)
    return {"num_classes": CLASSES}, (jnp.asarray(np.eye(4, dtype=np.float32)), jnp.asarray(edges)), (4, CLASSES)
  if matches(name, FLAT_FEATURES):
    x = (jnp.asarray(rng.standard_normal((batch, 8, 8, 1)), jnp.float32),)
    if name == "linear_regression":
      return {"num_outputs": 3}, x, (batch, 3)
    if name in ("logistic_regression", "perceptron"):
      return {}, x, (batch,)
    return {"num_classes": CLASSES}, x, (batch, CLASSES)
  size = next((s for p, s in IMAGE_SIZE.items() if fnmatch.fnmatchcase(name, p)), 32)
  return {"num_classes": CLASSES}, (jnp.asarray(rng.standard_normal((batch, size, size, 3)), jnp.float32),), \
      (batch, CLASSES)


def randomize_variables(variables, seed):
  """Random, non-trivial values everywhere: fan-in scaled kernels, BN statistics far from (0, 1)."""
  rng = np.random.default_rng(seed)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(variables)
  new = []
  for path, leaf in leaves:
    name = path[-1].key
    if name == "kernel":
      value = rng.normal(size=leaf.shape) * np.sqrt(2 / np.prod(leaf.shape[:-1]))
    elif name in ("scale", "var"):
      value = rng.uniform(0.5, 1.5, size=leaf.shape)
    else:  # conv/BN bias, running mean
      value = 0.2 * rng.normal(size=leaf.shape)
    new.append(jnp.asarray(value, leaf.dtype))
  return jax.tree.unflatten(treedef, new)


def calibrated_random_variables(model, x, seed):
  """Random parameters; BN statistics = this batch's train-mode statistics, perturbed by ~10% - 50%.

  Close to real statistics, so signals neither explode nor collapse through 13 layers (with arbitrary
  statistics every output is nearly the same constant and an equality test would prove little).
  """
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  variables = randomize_variables(shapes, seed)
  old = variables["batch_stats"]
  _, new = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
  rng = np.random.default_rng(seed + 1)

  def perturb(path, old_leaf, new_leaf):
    batch = (new_leaf - 0.9 * old_leaf) / 0.1  # undo the running-average update (momentum 0.9)
    if path[-1].key == "mean":
      return batch + 0.1 * rng.normal(size=batch.shape).astype(np.float32) * np.sqrt(np.abs(batch) + 1e-3)
    return jnp.maximum(batch, 1e-3) * rng.uniform(0.5, 1.5, size=batch.shape).astype(np.float32)

  stats = jax.tree_util.tree_map_with_path(perturb, old, new["batch_stats"])
  return {"params": variables["params"], "batch_stats": stats}


def n_params(tree) -> int:
  """The number of scalars in a tree of arrays or shapes (e.g. the 'params' of jax.eval_shape(model.init, ...))."""
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))
