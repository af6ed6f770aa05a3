"""ResNet, ResNeXt and Wide ResNet (torchvision semantics): counts, shapes, BatchNorm, strides, gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.resnet import BasicBlock, Bottleneck, ResNet

ORACLES = {  # torchvision, 1000 classes
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
}


@pytest.fixture(scope="module", autouse=True)
def fast_compile():
  old = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", old)


def count_params(model, size=32):
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_torchvision(name):
  got = count_params(archs.create_model(name))
  assert got == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params (torchvision), got {got:,}"


def init(model, x):
  return model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, train=False)


@pytest.fixture(scope="module")
def resnet18_and_vars():
  model = archs.create_model("resnet18", num_classes=10)
  x = jax.random.normal(jax.random.key(2), (2, 32, 32, 3))
  return model, init(model, x), x


def test_resnet18_logits_and_features_shapes(resnet18_and_vars):
  model, variables, x = resnet18_and_vars
  assert model.apply(variables, x, train=False).shape == (2, 10), "expected logits (B, num_classes)"
  out = model.apply(variables, x, train=False, return_features=True)
  assert out["pre_logits"].shape == (2, 512), f"expected pre_logits (2, 512), got {out['pre_logits'].shape}"
  shapes = [s.shape for s in out["stages"]]
  assert shapes == [(2, 8, 8, 64), (2, 4, 4, 128), (2, 2, 2, 256), (2, 1, 1, 512)], f"stage maps {shapes}"
  np.testing.assert_allclose(out["pre_logits"], out["stages"][-1].mean(axis=(1, 2)), rtol=1e-6,
                             err_msg="pre_logits is the global mean of the last stage")
  assert out["logits"].dtype == jnp.float32


def test_train_mode_updates_running_stats_with_torch_momentum(resnet18_and_vars):
  model, variables, x = resnet18_and_vars
  _, updated = model.apply(variables, x, train=True, mutable=["batch_stats", "intermediates"],
                             capture_intermediates=True)
  stem_out = updated["intermediates"]["conv1"]["__call__"][0]
  # PyTorch momentum 0.1: running_mean = 0.9 * 0 + 0.1 * batch mean; running_var from 1 toward the batch var.
  np.testing.assert_allclose(updated["batch_stats"]["bn1"]["mean"], 0.1 * stem_out.mean(axis=(0, 1, 2)),
                             rtol=1e-4, atol=1e-6, err_msg="stem BN running mean after one step")
  np.testing.assert_allclose(updated["batch_stats"]["bn1"]["var"], 0.9 + 0.1 * stem_out.var(axis=(0, 1, 2)),
                             rtol=1e-4, err_msg="stem BN running var after one step")
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], updated["batch_stats"])
  assert all(jax.tree.leaves(changed)), "every BN's running statistics must change in train mode"


def test_eval_mode_uses_running_stats_per_sample(resnet18_and_vars):
  model, variables, x = resnet18_and_vars
  both = model.apply(variables, x, train=False)
  alone = model.apply(variables, x[:1], train=False)
  np.testing.assert_allclose(both[:1], alone, rtol=1e-5, atol=1e-6,
                             err_msg="eval BN uses running stats: a sample's logits do not depend on the batch")
  train_out, _ = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert not np.allclose(train_out, both, atol=1e-3), "train mode must normalise with batch statistics"


def test_bottleneck_stride_on_3x3_conv():
  model = ResNet(stage_sizes=(1, 1), block=Bottleneck, num_classes=3)
  x = jnp.ones((1, 32, 32, 3))
  _, state = model.apply(init(model, x), x, train=False, capture_intermediates=True, mutable=["intermediates"])
  block = state["intermediates"]["layer2_0"]
  shapes = {k: block[k]["__call__"][0].shape[1:3] for k in ("conv1", "conv2", "conv3")}
  assert shapes == {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4)}, f"torchvision v1.5 strides the 3x3: {shapes}"


def test_resnext_grouped_conv_and_wide_width_shapes():
  shapes = jax.eval_shape(lambda: init(archs.create_model("resnext50_32x4d"), jnp.zeros((1, 32, 32, 3))))
  conv2 = shapes["params"]["layer1_0"]["conv2"]["kernel"].shape
  assert conv2 == (3, 3, 4, 128), f"ResNeXt 32x4d: 3x3 kernel (3, 3, 128/32, 128) expected, got {conv2}"
  shapes = jax.eval_shape(lambda: init(archs.create_model("wide_resnet50_2"), jnp.zeros((1, 32, 32, 3))))
  conv2 = shapes["params"]["layer1_0"]["conv2"]["kernel"].shape
  assert conv2 == (3, 3, 128, 128), f"Wide ResNet-50-2: inner width 128 expected, got {conv2}"


def test_basic_block_rejects_groups():
  model = archs.create_model("resnet18", groups=2)
  with pytest.raises(ValueError, match="BasicBlock accepts only groups=1"):
    count_params(model)


def test_unknown_option_values_are_rejected():
  for field, value in (("stem", "fancy"), ("stochastic_depth", "per_pixel"), ("stem_pool", "avg")):
    with pytest.raises(ValueError, match=f"unknown ResNet {field} '{value}'"):
      count_params(archs.create_model("resnet18", **{field: value}))


def test_zero_init_last_gamma():
  small = ResNet(stage_sizes=(1, 1), block=Bottleneck, num_classes=3, zero_init_last=True)
  p = init(small, jnp.ones((1, 16, 16, 3)))["params"]
  assert float(jnp.abs(p["layer1_0"]["bn3"]["scale"]).max()) == 0.0, "zero_init_last zeroes the last BN gamma"
  assert float(p["layer1_0"]["bn1"]["scale"].min()) == 1.0, "other BN gammas stay 1"


def assert_every_param_gets_gradient(model, x):
  variables = init(model, x)

  def loss(params):
    logits, _ = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"],
                            rngs={"dropout": jax.random.key(5)})
    return jnp.sum(logits * jnp.arange(1, logits.shape[-1] + 1))  # not a plain sum: softmax-like symmetry

  grads = jax.grad(loss)(variables["params"])
  flat = jax.tree_util.tree_flatten_with_path(grads)[0]
  dead = [jax.tree_util.keystr(path) for path, g in flat if not bool(jnp.any(g != 0))]
  assert not dead, f"parameters without gradient: {dead}"


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck], ids=["basic", "bottleneck"])
def test_every_parameter_receives_gradient(block):
  model = ResNet(stage_sizes=(1, 1), block=block, num_classes=5)  # blocks with and without a projection
  assert_every_param_gets_gradient(model, jax.random.normal(jax.random.key(4), (2, 16, 16, 3)))


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model = ResNet(stage_sizes=(1, 1), block=BasicBlock, num_classes=3, dtype=jnp.bfloat16)
  x = jnp.ones((1, 16, 16, 3))
  variables = init(model, x)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables["params"])), "params stay float32"
  assert model.apply(variables, x).dtype == jnp.float32, "logits are float32"


def test_variants_are_configurations_of_one_class():
  for name in ORACLES:
    model = archs.create_model(name)
    assert isinstance(model, ResNet), f"{name} should be a ResNet configuration"
