"""GoogLeNet: count oracles (torchvision and paper forms, with and without aux heads), aux heads
sown in training only, train/eval behaviour and gradients."""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs

KEY = jax.random.key(0)


pytestmark = pytest.mark.usefixtures("fast_compile")


def abstract_variables(model, size=224, train=False):
  x = jnp.zeros((1, size, size, 3))
  return jax.eval_shape(lambda: model.init({"params": KEY, "dropout": KEY}, x, train=train))


@pytest.mark.parametrize("name,aux,want", [
    ("googlenet", False, 6_624_904), ("googlenet", True, 13_004_888),
    ("googlenet_paper", False, 6_998_552), ("googlenet_paper", True, 13_378_280)])
@pytest.mark.parametrize("init_train", [False, True])
def test_param_count_matches_oracle(name, aux, want, init_train):
  params = abstract_variables(archs.create_model(name, aux_logits=aux), train=init_train)["params"]
  got = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
  assert got == want, f"{name} aux_logits={aux}: expected {want:,} params, got {got:,}"


@pytest.mark.parametrize("name,kernel,has_bias,has_bn", [("googlenet", 3, False, True),
                                                         ("googlenet_paper", 5, True, False)])
def test_5x5_branch_bias_and_batchnorm_per_form(name, kernel, has_bias, has_bn):
  variables = abstract_variables(archs.create_model(name))
  branch = variables["params"]["inception3a"]["branch3"]
  assert branch["conv"]["kernel"].shape == (kernel, kernel, 16, 32), f"expected a {kernel}x{kernel} '5x5' branch"
  assert ("bias" in branch["conv"]) == has_bias and ("bn" in branch) == has_bn
  assert ("batch_stats" in variables) == has_bn


@pytest.mark.parametrize("name", ["googlenet", "googlenet_paper"])
def test_aux_logits_sown_in_train_only_and_feature_shapes(name):
  model = archs.create_model(name)
  x = jnp.zeros((2, 224, 224, 3))

  def run(train):
    variables = model.init(KEY, x)
    return model.apply(variables, x, train=train, return_features=True, rngs={"dropout": KEY},
                       mutable=["aux_logits", "batch_stats"])
  out, train_cols = jax.eval_shape(lambda: run(True))
  _, eval_cols = jax.eval_shape(lambda: run(False))
  aux = {k: [a.shape for a in v] for k, v in train_cols["aux_logits"].items()}
  assert aux == {"aux1": [(2, 1000)], "aux2": [(2, 1000)]}, f"expected two sown aux logits, got {aux}"
  assert "aux_logits" not in eval_cols or not eval_cols["aux_logits"], "expected no aux logits in eval"
  assert out["logits"].shape == (2, 1000) and out["pre_logits"].shape == (2, 1024)
  assert [s.shape[1:] for s in out["stages"]] == [(56, 56, 192), (28, 28, 480), (14, 14, 832), (7, 7, 1024)]


def test_googlenet_training_step_small_input():
  """One jitted pass at 32x32: every parameter (aux heads included) gets a gradient from
  CE + 0.3 (CE_aux1 + CE_aux2), BN statistics move only in train. (Dropout: test_alexnet_vgg.py.)"""
  model = archs.create_model("googlenet", num_classes=4)
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  labels = jnp.array([0, 3])
  ce = lambda logits: optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  @jax.jit
  def run(x):
    variables = model.init(KEY, x)

    def loss(params, rng):
      logits, cols = model.apply({**variables, "params": params}, x, train=True, rngs={"dropout": rng},
                                 mutable=["batch_stats", "aux_logits"])
      aux = sum(ce(v[0]) for v in cols["aux_logits"].values())
      return ce(logits) + 0.3 * aux, (logits, cols)
    grads, (train1, cols) = jax.grad(loss, has_aux=True)(variables["params"], jax.random.key(2))
    eval1, eval_cols = model.apply(variables, x, mutable=["batch_stats", "aux_logits"])
    return variables, grads, cols, eval1, eval_cols
  variables, grads, cols, eval1, eval_cols = run(x)
  assert eval1.shape == (2, 4) and set(cols["aux_logits"]) == {"aux1", "aux2"}
  assert not eval_cols.get("aux_logits"), "expected no aux logits in eval mode"
  dead = [k for k, g in flax.traverse_util.flatten_dict(grads, sep="/").items() if not np.any(np.asarray(g))]
  assert not dead, f"expected a nonzero gradient for every parameter; none for {dead}"
  moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), variables["batch_stats"], cols["batch_stats"])
  assert all(jax.tree.leaves(moved)), "expected every BatchNorm statistic to move in train mode"
  same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), variables["batch_stats"], eval_cols["batch_stats"])
  assert all(jax.tree.leaves(same)), "expected BatchNorm statistics unchanged in eval mode"
