"""DenseNet and MobileNet v1: count oracles, feature shapes, train/eval behaviour, gradients."""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs

ORACLES = {
    "densenet121": 7_978_856, "densenet169": 14_149_480, "densenet201": 20_013_928, "densenet161": 28_681_000,
    "mobilenet_v1_100": 4_231_976, "mobilenet_v1_075": 2_585_560, "mobilenet_v1_050": 1_331_592,
    "mobilenet_v1_025": 470_072,
}
KEY = jax.random.key(0)


pytestmark = pytest.mark.usefixtures("fast_compile")


def abstract_features(model, size=224):
  x = jnp.zeros((1, size, size, 3))
  def run():
    variables = model.init(KEY, x)
    return variables, model.apply(variables, x, return_features=True)
  return jax.eval_shape(run)


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_oracle(name):
  variables, _ = abstract_features(archs.create_model(name))
  got = sum(math.prod(p.shape) for p in jax.tree.leaves(variables["params"]))
  assert got == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params, got {got:,}"


@pytest.mark.parametrize("name,stages", [
    ("densenet121", [(56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 1024)]),
    ("densenet161", [(56, 56, 384), (28, 28, 768), (14, 14, 2112), (7, 7, 2208)]),
    ("mobilenet_v1_100", [(112, 112, 64), (56, 56, 128), (28, 28, 256), (14, 14, 512), (7, 7, 1024)]),
    ("mobilenet_v1_025", [(112, 112, 16), (56, 56, 32), (28, 28, 64), (14, 14, 128), (7, 7, 256)]),
])
def test_feature_shapes(name, stages):
  _, out = abstract_features(archs.create_model(name))
  assert [s.shape[1:] for s in out["stages"]] == stages
  assert out["pre_logits"].shape == (1, stages[-1][-1]) and out["logits"].shape == (1, 1000)


def test_mobilenet_convs_are_depthwise_then_pointwise():
  variables, _ = abstract_features(archs.create_model("mobilenet_v1_050"))
  block = variables["params"]["stage4_block1"]
  assert block["dw"]["conv"]["kernel"].shape == (3, 3, 1, 128), "expected one 3x3 filter per input channel"
  assert block["pw"]["conv"]["kernel"].shape == (1, 1, 128, 256) and "bias" not in block["pw"]["conv"]


def train_eval(model, size):
  x = jax.random.normal(jax.random.key(1), (2, size, size, 3))
  labels = jnp.array([1, 2])

  @jax.jit
  def run(x):
    variables = model.init(KEY, x)

    def loss(params):
      logits, cols = model.apply({**variables, "params": params}, x, train=True, rngs={"dropout": KEY},
                                 mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), cols
    grads, cols = jax.grad(loss, has_aux=True)(variables["params"])
    eval_out, eval_cols = model.apply(variables, x, return_features=True, mutable=["batch_stats"])
    return variables, grads, cols, eval_out, eval_cols
  variables, grads, cols, eval_out, eval_cols = run(x)
  dead = [k for k, g in flax.traverse_util.flatten_dict(grads, sep="/").items() if not np.any(np.asarray(g))]
  assert not dead, f"expected a nonzero gradient for every parameter; none for {dead}"
  moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), variables["batch_stats"], cols["batch_stats"])
  assert all(jax.tree.leaves(moved)), "expected every BatchNorm statistic to move in train mode"
  same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), variables["batch_stats"], eval_cols["batch_stats"])
  assert all(jax.tree.leaves(same)), "expected BatchNorm statistics unchanged in eval mode"
  return eval_out


def test_mobilenet_small_input_training():
  out = train_eval(archs.create_model("mobilenet_v1_025", num_classes=3), 32)
  assert out["logits"].shape == (2, 3) and out["stages"][-1].shape == (2, 1, 1, 256)


def test_densenet_small_config_training_and_channel_growth():
  model = archs.create_model("densenet121", num_classes=3, growth_rate=4, block_config=(2, 3),
                             num_init_features=8, bn_size=2)
  out = train_eval(model, 32)
  # 8 + 2*4 = 16 -> transition (compression 0.5) 8 -> 8 + 3*4 = 20.
  assert [s.shape[1:] for s in out["stages"]] == [(8, 8, 16), (4, 4, 20)]
  assert out["logits"].shape == (2, 3)


def conv_dense_macs(model, size=224):
  """Multiply-accumulates of every conv and dense layer: output positions x kernel size (eval_shape only)."""
  x = jnp.zeros((1, size, size, 3))

  def run():
    variables = model.init(KEY, x)
    return variables, model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])[1]
  variables, captured = jax.eval_shape(run)
  outputs = flax.traverse_util.flatten_dict(captured["intermediates"])
  total = 0
  for path, kernel in flax.traverse_util.flatten_dict(variables["params"]).items():
    if path[-1] == "kernel":
      out = outputs[path[:-1] + ("__call__",)][0]
      total += math.prod(out.shape[1:-1]) * math.prod(kernel.shape)
  return total


@pytest.mark.parametrize("name,want_millions", [("mobilenet_v1_100", 568.7), ("vgg16", 15_470.3)])
def test_macs_match_references(name, want_millions):
  """ARCHITECTURES.md: MobileNet v1 568.7M MACs; timm/fvcore vgg16 15.47 GMACs."""
  got = conv_dense_macs(archs.create_model(name)) / 1e6
  assert round(got, 1) == want_millions, f"{name}: expected {want_millions}M MACs, got {got:.2f}M"
