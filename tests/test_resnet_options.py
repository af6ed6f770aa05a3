"""ResNet options (archs/resnet.py, archs/resnet_cifar.py): kernel_init, norm and VanillaNet's deep training."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.layers.deep_training import deep_trained
from archs.resnet import BasicBlock, Bottleneck, ResNet
from archs.resnet_cifar import CifarResNet
from tests.helpers import n_params, randomize_variables

TINY = functools.partial(ResNet, stage_sizes=(1,), block=BasicBlock, num_classes=5)


def test_deep_trained_blends_with_identity():
  x = jnp.linspace(-2.0, 2.0, 9)
  assert deep_trained(jax.nn.relu, None) is jax.nn.relu, "None: the activation itself"
  for lam in (0.0, 0.3, 1.0):
    np.testing.assert_allclose(deep_trained(jax.nn.relu, lam)(x), (1 - lam) * np.maximum(x, 0) + lam * x,
                               atol=1e-7, err_msg=f"(1 - lam) relu(x) + lam x at lam={lam}")
  np.testing.assert_array_equal(deep_trained(jnp.tanh, 1.0)(x), x, err_msg="lam = 1 is the identity")


def _count(model, size=64):
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  return n_params(shapes["params"]), shapes


@pytest.mark.parametrize("block", [BasicBlock, Bottleneck])
def test_act_lambda_one_makes_each_residual_branch_affine(block):
  """At lam = 1 the branch conv-BN-conv-BN(-conv-BN) is affine in its input (it could merge into one conv); at
  lam = 0 it is not; the ReLU after the sum stays (outputs >= 0). Eval-mode BN, random statistics."""
  conv = functools.partial(nn.Conv, use_bias=False)
  norm = functools.partial(nn.BatchNorm, use_running_average=True)
  x1, x2 = (jax.random.normal(jax.random.key(k), (2, 6, 6, 8 * block.expansion)) for k in (0, 1))
  plain = block(filters=8, conv=conv, norm=norm)
  variables = randomize_variables(jax.eval_shape(plain.init, jax.random.key(2), x1), seed=3)
  last_bn = "bn3" if block is Bottleneck else "bn2"
  for lam, affine in ((1.0, True), (0.0, False)):
    model = plain.clone(inner_act=deep_trained(plain.act, lam))

    def branch(x):
      _, state = model.apply(variables, x, capture_intermediates=lambda m, _: m.name == last_bn,
                             mutable=["intermediates"])
      return state["intermediates"][last_bn]["__call__"][0]
    mixed, combined = branch(0.3 * x1 + 0.7 * x2), 0.3 * branch(x1) + 0.7 * branch(x2)
    assert np.allclose(mixed, combined, atol=1e-4) == affine, f"lam={lam}: branch affine expected {affine}"
    assert float(model.apply(variables, x1).min()) >= 0, "the ReLU after the sum stays"


@pytest.mark.parametrize("make", [lambda: TINY(), lambda: CifarResNet(depth=8)])
def test_act_lambda_none_and_zero_are_the_plain_network(make):
  model = make()
  x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
  variables = randomize_variables(jax.eval_shape(model.init, jax.random.key(1), x), seed=2)
  plain = model.apply(variables, x)
  np.testing.assert_allclose(model.apply(variables, x, act_lambda=0.0), plain, atol=1e-6,
                             err_msg="act_lambda=0 is the ResNet itself")
  assert not np.allclose(model.apply(variables, x, act_lambda=1.0), plain, atol=1e-3), "act_lambda must reach it"


@pytest.mark.slow  # ~4 s of CPU (XLA compiles)
def test_act_lambda_is_traced_compiles_once():
  model = TINY()
  x = jnp.ones((1, 16, 16, 3))
  variables = model.init(jax.random.key(0), x)
  traces = []

  @jax.jit
  def apply(lam):
    traces.append(1)
    return model.apply(variables, x, act_lambda=lam)
  for lam in (0.0, 0.5, 1.0):
    apply(jnp.float32(lam))
  assert len(traces) == 1, f"a changing act_lambda must not recompile ({len(traces)} traces)"


@pytest.mark.parametrize("norm", ["layer", "instance", "group"])
def test_resnet_norms_keep_the_count(norm):
  count, shapes = _count(archs.create_model("resnet18", norm=norm))
  assert count == 11_689_512, f"resnet18 norm={norm}: one scale and bias per channel, as batch norm"
  assert "batch_stats" not in shapes, f"{norm}: no running statistics"


@pytest.mark.slow  # ~4 s of CPU (XLA compiles)
def test_cifar_resnet_options():
  assert _count(archs.create_model("resnet20_cifar", norm="group:8"), 32)[0] == 269_722, "group norm: same count"
  with pytest.raises(ValueError, match="16 channels do not split into num_groups=32"):
    archs.create_model("resnet20_cifar", norm="group").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  model = CifarResNet(depth=8, kernel_init="zeros")
  params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))["params"]
  kernels = [v for p, v in jax.tree_util.tree_leaves_with_path(params) if "kernel" in jax.tree_util.keystr(p)]
  assert len(kernels) == 8 and not any(np.any(k) for k in kernels), "kernel_init='zeros' reaches 7 convs and fc"


def test_resnet_kernel_init_reaches_convs_and_fc():
  params = TINY(kernel_init="zeros").init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
  kernels = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(params)
             if "kernel" in jax.tree_util.keystr(p)}
  assert len(kernels) == 4 and not any(np.any(k) for k in kernels.values()), f"zeros everywhere: {list(kernels)}"
  default = TINY().init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
  std = float(jnp.std(default["conv1"]["kernel"]))
  assert std == pytest.approx(np.sqrt(2 / (7 * 7 * 64)), rel=0.1), "default: kaiming-normal fan-out (torchvision)"


def test_deep_training_preset_schedules_act_lambda_into_the_resnet():
  from train import defaults, scheduled_args
  c = defaults.load_config("resnet50", "deep_training")
  schedule = scheduled_args.ScheduledArgs(c.scheduled_args, steps_per_epoch=10)
  assert [float(schedule.at(10 * e)["act_lambda"]) for e in range(4)] == [0.0, 0.5, 1.0, 1.0], "0 -> 1 over 2 epochs"
  model = archs.create_model(c.model, num_classes=10, **c.model_kwargs)
  x = jnp.zeros((1, c.image_size, c.image_size, 3))
  out = jax.eval_shape(lambda: model.apply(model.init(jax.random.key(0), x), x, **schedule.at(5)))
  assert out.shape == (1, 10), "the ResNet takes the scheduled act_lambda"


def test_preact_and_wide_resnet_options():
  from archs.preact_resnet import WideResNet
  assert _count(archs.create_model("wide_resnet40_1", norm="group:16"), 32)[0] == 563_930, "WRN-40-1, group norm"
  assert _count(archs.create_model("preact_resnet18", norm="layer"))[0] == 11_687_720, "preact_resnet18, layer norm"
  params = WideResNet(depth=10, widen_factor=1, kernel_init="zeros").init(
      jax.random.key(0), jnp.zeros((1, 8, 8, 3)))["params"]
  kernels = [v for p, v in jax.tree_util.tree_leaves_with_path(params) if "kernel" in jax.tree_util.keystr(p)]
  assert len(kernels) >= 7 and not any(np.any(k) for k in kernels), "kernel_init='zeros' reaches convs and fc"
