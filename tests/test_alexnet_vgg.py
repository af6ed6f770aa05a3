"""AlexNet, ZFNet and VGG: parameter-count oracles, shapes, train/eval behaviour, gradients."""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs

ORACLES = {
    "alexnet": 62_378_344, "alexnet_grouped": 60_965_224, "zfnet": 62_357_608,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248,
}
KEY = jax.random.key(0)


pytestmark = pytest.mark.usefixtures("fast_compile")


def abstract_variables(model, size):
  return jax.eval_shape(lambda: model.init({"params": KEY, "dropout": KEY}, jnp.zeros((1, size, size, 3))))


def count(variables):
  return sum(math.prod(p.shape) for p in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_oracle(name):
  got = count(abstract_variables(archs.create_model(name), 224))
  assert got == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params, got {got:,}"


@pytest.mark.parametrize("size,ceil_mode", [(224, True), (227, True), (227, False)])
def test_alexnet_input_quirk_224_and_227_give_the_same_network(size, ceil_mode):
  model = archs.create_model("alexnet", pool_ceil_mode=ceil_mode)
  assert count(abstract_variables(model, size)) == ORACLES["alexnet"], f"expected the same count at {size}"


def test_alexnet_floor_pooling_at_224_is_rejected():
  with pytest.raises(ValueError, match="6x6"):
    abstract_variables(archs.create_model("alexnet", pool_ceil_mode=False), 224)


def test_alexnet_grouped_towers_halve_conv2_4_5_inputs():
  params = abstract_variables(archs.create_model("alexnet_grouped"), 224)["params"]
  shapes = {name: params[name]["kernel"].shape for name in ("conv1", "conv2", "conv3", "conv4", "conv5")}
  assert shapes == {"conv1": (11, 11, 3, 96), "conv2": (5, 5, 48, 256), "conv3": (3, 3, 256, 384),
                    "conv4": (3, 3, 192, 384), "conv5": (3, 3, 192, 256)}, f"got {shapes}"


@pytest.mark.parametrize("name,stages", [
    ("alexnet", [(27, 27, 96), (13, 13, 256), (6, 6, 256)]),
    ("zfnet", [(55, 55, 96), (13, 13, 256), (6, 6, 256)]),  # ZFNet paper Fig. 3
])
def test_alexnet_zfnet_feature_shapes(name, stages):
  model = archs.create_model(name)
  out = jax.eval_shape(lambda: model.apply(model.init(KEY, jnp.zeros((2, 224, 224, 3))),
                                           jnp.zeros((2, 224, 224, 3)), return_features=True))
  assert [s.shape[1:] for s in out["stages"]] == stages
  assert out["logits"].shape == (2, 1000) and out["pre_logits"].shape == (2, 4096)


def test_vgg16_named_features_at_224():
  model = archs.create_model("vgg16")
  x = jnp.zeros((1, 224, 224, 3))
  out = jax.eval_shape(lambda: model.apply(model.init(KEY, x), x, return_features=True))
  named = {k: v.shape for k, v in out["named"].items()}
  convs = [f"conv{s}_{i}" for s, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)]
  want = {*convs, "pool1", "pool2", "pool3", "pool4", "pool5", "fc6", "fc7"}
  assert set(named) == want, f"expected keys {sorted(want)}, got {sorted(named)}"
  assert named["conv1_2"] == (1, 224, 224, 64) and named["conv4_3"] == (1, 28, 28, 512)
  assert named["pool5"] == (1, 7, 7, 512) and named["fc7"] == (1, 4096)
  assert out["logits"].shape == (1, 1000) and [s.shape[1] for s in out["stages"]] == [112, 56, 28, 14, 7]


def loss_fn(model, variables, x, labels, rng):
  def loss(params):
    logits, updates = model.apply({**variables, "params": params}, x, train=True, rngs={"dropout": rng},
                                  mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, updates)
  return loss


def assert_every_param_has_gradient(grads):
  dead = [k for k, g in flax.traverse_util.flatten_dict(grads, sep="/").items() if not np.any(np.asarray(g))]
  assert not dead, f"expected a nonzero gradient for every parameter; none for {dead}"


def train_and_eval(name, size, **overrides):
  model = archs.create_model(name, num_classes=5, hidden=16, **overrides)
  x = jax.random.normal(jax.random.key(1), (2, size, size, 3))
  labels = jnp.array([1, 3])

  @jax.jit
  def run(x):
    variables = model.init(KEY, x)
    grads, (train1, updates) = jax.grad(loss_fn(model, variables, x, labels, jax.random.key(2)),
                                        has_aux=True)(variables["params"])
    _, (train2, _) = loss_fn(model, variables, x, labels, jax.random.key(3))(variables["params"])
    eval_out, eval_updates = model.apply(variables, x, return_features=True, mutable=["batch_stats"])
    return variables, grads, train1, train2, updates, eval_out, eval_updates
  return run(x)


def test_alexnet_grouped_train_eval_and_gradients():
  variables, grads, train1, train2, _, eval_out, _ = train_and_eval("alexnet_grouped", 224)
  assert eval_out["logits"].shape == (2, 5)
  assert not np.allclose(train1, train2), "expected dropout to make two training passes differ"
  assert not np.allclose(train1, eval_out["logits"]), "expected train (dropout) to differ from eval"
  assert_every_param_has_gradient(grads)


def test_vgg11_bn_small_input_train_eval_and_gradients():
  variables, grads, train1, train2, updates, eval_out, eval_updates = train_and_eval("vgg11_bn", 32)
  assert eval_out["named"]["pool5"].shape == (2, 1, 1, 512), "expected 1x1 maps at 32x32 (adaptive pool to 7x7)"
  assert eval_out["named"]["conv3_2"].shape == (2, 8, 8, 256) and eval_out["logits"].shape == (2, 5)
  assert not np.allclose(train1, train2), "expected dropout to make two training passes differ"
  before = variables["batch_stats"]
  moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), before, updates["batch_stats"])
  assert all(jax.tree.leaves(moved)), "expected every BatchNorm statistic to move in train mode"
  same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), before, eval_updates["batch_stats"])
  assert all(jax.tree.leaves(same)), "expected BatchNorm statistics unchanged in eval mode"
  assert_every_param_has_gradient(grads)
