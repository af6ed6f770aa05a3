"""ResNet, ResNeXt and Wide ResNet (torchvision semantics): counts, shapes, BatchNorm, strides, gradients."""
import functools

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


pytestmark = pytest.mark.usefixtures("fast_compile")


def count_params(model, size=32):
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_torchvision(name):
  got = count_params(archs.create_model(name))
  assert got == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params (torchvision), got {got:,}"


def init(model, x):
  # Under jit: one compile costs far less than the eager dispatch of every op.
  return jax.jit(lambda x: model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, train=False))(x)


def jitted(model, **kwargs):
  """model.apply under jit with fixed keyword arguments; call as f(variables, x, seed) (seed of 'dropout')."""
  fn = jax.jit(lambda v, x, key: model.apply(v, x, rngs={"dropout": key}, **kwargs))
  return lambda variables, x, seed=0: fn(variables, x, jax.random.key(seed))


@pytest.fixture(scope="module")
def resnet18_and_vars():
  model = archs.create_model("resnet18", num_classes=10)
  x = jax.random.normal(jax.random.key(2), (2, 32, 32, 3))
  return model, init(model, x), x


def test_resnet18_logits_and_features_shapes(resnet18_and_vars):
  model, variables, x = resnet18_and_vars
  out = jitted(model, train=False, return_features=True)(variables, x)
  assert out["logits"].shape == (2, 10), "expected logits (B, num_classes)"
  assert out["pre_logits"].shape == (2, 512), f"expected pre_logits (2, 512), got {out['pre_logits'].shape}"
  shapes = [s.shape for s in out["stages"]]
  assert shapes == [(2, 8, 8, 64), (2, 4, 4, 128), (2, 2, 2, 256), (2, 1, 1, 512)], f"stage maps {shapes}"
  np.testing.assert_allclose(out["pre_logits"], out["stages"][-1].mean(axis=(1, 2)), rtol=1e-6,
                             err_msg="pre_logits is the global mean of the last stage")
  assert out["logits"].dtype == jnp.float32


def test_train_mode_updates_running_stats_with_torch_momentum(resnet18_and_vars):
  model, variables, x = resnet18_and_vars
  _, updated = jitted(model, train=True, mutable=["batch_stats", "intermediates"], capture_intermediates=True)(
      variables, x)
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
  evaluate = jitted(model, train=False)
  both, alone = evaluate(variables, x), evaluate(variables, x[:1])
  np.testing.assert_allclose(both[:1], alone, rtol=1e-5, atol=1e-6,
                             err_msg="eval BN uses running stats: a sample's logits do not depend on the batch")
  train_out, _ = jitted(model, train=True, mutable=["batch_stats"])(variables, x)
  assert not np.allclose(train_out, both, atol=1e-3), "train mode must normalise with batch statistics"


def test_bottleneck_stride_on_3x3_conv():
  model = ResNet(stage_sizes=(1, 1), block=Bottleneck, num_classes=3)
  x = jnp.ones((1, 32, 32, 3))
  _, state = jitted(model, train=False, capture_intermediates=True, mutable=["intermediates"])(init(model, x), x)
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

  grads = jax.jit(jax.grad(loss))(variables["params"])
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
  assert jitted(model)(variables, x).dtype == jnp.float32, "logits are float32"


def test_variants_are_configurations_of_one_class():
  for name in ORACLES:
    model = archs.create_model(name)
    assert isinstance(model, ResNet), f"{name} should be a ResNet configuration"


# ---- The ResNet family ----

FAMILY_ORACLES = {
    "resnet18_blur": 11_689_512, "resnet34_blur": 21_797_672, "resnet50_blur": 25_557_032,  # BlurPool: no params
    "resnet101_blur": 44_549_160,
    "bam_resnet18": 11_712_503, "bam_resnet34": 21_820_663, "bam_resnet50": 25_915_099,  # imgclsmob / [computed]
    "wide_resnet28_10": 36_479_194, "wide_resnet40_1": 563_930, "wide_resnet40_2": 2_243_546,  # CIFAR-10
    "wide_resnet40_4": 8_949_210, "wide_resnet16_8": 10_961_370,
    "resnet110_stochastic_depth": 1_732_010,  # CIFAR-10, option A, biased convs
    "resnet50d": 25_576_264, "seresnet50": 28_088_024, "resnetrs50": 35_691_912,  # = timm's counts
}


@pytest.mark.parametrize("name", sorted(FAMILY_ORACLES))
def test_family_param_count(name):
  got = count_params(archs.create_model(name))
  assert got == FAMILY_ORACLES[name], f"{name}: expected {FAMILY_ORACLES[name]:,} params, got {got:,}"


def test_wrn28_10_cifar100_count():
  got = count_params(archs.create_model("wide_resnet28_10", num_classes=100))
  assert got == 36_536_884, f"WRN-28-10 CIFAR-100: expected 36,536,884 (imgclsmob), got {got:,}"


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_preact_count_is_torchvision_minus_projection_bns(depth):
  # Pre-activation moves each unit's BNs to its input (the final BN replaces the last unit's output BN) and
  # leaves the projection shortcuts bare: torchvision's count minus 2 x (sum of projection widths).
  expansion = 1 if depth < 50 else 4
  projections = [64 * 2**i * expansion for i in range(4) if i > 0 or expansion > 1]
  want = ORACLES[f"resnet{depth}"] - 2 * sum(projections)
  got = count_params(archs.create_model(f"preact_resnet{depth}"))
  assert got == want, f"preact_resnet{depth}: expected {want:,}, got {got:,}"


def imagenet_stages(expansion):
  return [(8, 64 * expansion), (4, 128 * expansion)]


SMALL = dict(stage_sizes=(1, 1), num_classes=5)  # two stages: a block without and one with a projection
FAMILY_FORWARDS = {  # name -> (overrides for a small net, input size, per-stage (size, channels))
    "resnet18_blur": (SMALL, 32, imagenet_stages(1)),
    "resnet50_blur": (SMALL, 32, imagenet_stages(4)),
    "bam_resnet18": (SMALL, 32, imagenet_stages(1)),
    "resnet50d": (SMALL, 32, imagenet_stages(4)),
    "seresnet50": (SMALL, 32, imagenet_stages(4)),
    "resnetrs50": (SMALL, 32, imagenet_stages(4)),
    "preact_resnet18": (SMALL, 32, imagenet_stages(1)),
    "preact_resnet50": (SMALL, 32, imagenet_stages(4)),
    "wide_resnet16_8": (dict(depth=10, widen_factor=2, num_classes=5), 16, [(16, 32), (8, 64), (4, 128)]),
    "resnet110_stochastic_depth": (dict(depth=8, num_classes=5), 16, [(16, 16), (8, 32), (4, 64)]),
}


COVERED_BY_RESNETRS = ("resnet50d", "seresnet50")  # deep stem, avg_down, SE: all inside resnetrs50


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in COVERED_BY_RESNETRS else n
                                  for n in sorted(FAMILY_FORWARDS)])
def test_family_forward_and_features(name):
  overrides, size, stages = FAMILY_FORWARDS[name]
  model = archs.create_model(name, **overrides)
  x = jax.random.normal(jax.random.key(0), (2, size, size, 3))
  variables = init(model, x)
  out = jitted(model, train=False, return_features=True)(variables, x)
  assert out["logits"].shape == (2, 5), f"{name}: logits (2, 5) expected, got {out['logits'].shape}"
  got = [(s.shape[1], s.shape[3]) for s in out["stages"]]
  assert got == stages, f"{name}: stage (size, channels) expected {stages}, got {got}"
  assert out["pre_logits"].shape == (2, stages[-1][1]), f"{name}: pre_logits width {stages[-1][1]}"
  _, state = jitted(model, train=True, mutable=["batch_stats"])(variables, x, 1)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], state["batch_stats"])
  assert all(jax.tree.leaves(changed)), f"{name}: every BatchNorm must update its statistics in train mode"


@pytest.mark.parametrize("name", ["bam_resnet18", "resnetrs50", pytest.param("resnet50_blur", marks=pytest.mark.slow),
                                  "preact_resnet50", "wide_resnet16_8", "resnet110_stochastic_depth"])
def test_family_every_parameter_receives_gradient(name):
  overrides, size, _ = FAMILY_FORWARDS[name]
  if name == "resnet110_stochastic_depth":
    overrides = dict(overrides, drop_path_rate=0.0)  # a dropped block has no gradient, by design
  model = archs.create_model(name, **overrides)
  assert_every_param_gets_gradient(model, jax.random.normal(jax.random.key(2), (2, 16, 16, 3)))


def branch_probe(model, train, blocks):
  """f(variables, x, seed) -> [(residual branch before the drop, after the drop)] per block, from intermediates."""
  run = jitted(model, train=train, capture_intermediates=True, mutable=["intermediates", "batch_stats"])

  def probe(variables, x, seed=0):
    inter = run(variables, x, seed)[1]["intermediates"]
    return [(inter[b]["bn2"]["__call__"][0], inter[b]["drop_path"]["__call__"][0]) for b in blocks]
  return probe


@pytest.mark.parametrize("name,overrides,blocks", [
    ("resnet18", dict(SMALL, stage_sizes=(1, 1, 1), stochastic_depth="huang", drop_path_rate=0.5),
     ["layer1_0", "layer2_0", "layer3_0"]),
    ("resnet110_stochastic_depth", dict(depth=20, num_classes=5),
     [f"layer{i}_{j}" for i in (1, 2, 3) for j in range(3)]),
])
def test_huang_stochastic_depth(name, overrides, blocks):
  model = archs.create_model(name, **overrides)
  x = jax.random.normal(jax.random.key(3), (3, 16, 16, 3))
  variables = init(model, x)
  rates = [0.5 * (l + 1) / len(blocks) for l in range(len(blocks))]  # (l / L)(1 - p_L), p_L = 0.5
  for (branch, out), rate in zip(branch_probe(model, False, blocks)(variables, x), rates):
    np.testing.assert_allclose(out, (1 - rate) * branch, rtol=1e-5, atol=1e-6,
                               err_msg=f"{name}: eval scales a block by its survival probability {1 - rate}")
  outcomes, probe = set(), branch_probe(model, True, blocks)
  for seed in range(6):
    for branch, out in probe(variables, x, seed):
      kept = bool(jnp.all(out == branch))
      assert kept or bool(jnp.all(out == 0)), f"{name}: one gate per mini-batch, no rescaling at train"
      outcomes.add(kept)
  assert outcomes == {True, False}, f"{name}: gates must both open and close over 6 draws"


def test_drop_path_mode_per_sample_and_identity_at_eval():
  model = archs.create_model("resnet18", **dict(SMALL, stage_sizes=(1, 1, 1)), drop_path_rate=0.6)
  x = jax.random.normal(jax.random.key(4), (8, 16, 16, 3))  # rates linspace(0, 0.6, 3)
  variables = init(model, x)
  blocks = ["layer1_0", "layer2_0", "layer3_0"]
  for branch, out in branch_probe(model, False, blocks)(variables, x):
    np.testing.assert_allclose(out, branch, rtol=1e-6, err_msg="DropPath is the identity at eval")
  per_sample, probe = False, branch_probe(model, True, blocks)
  for seed in range(3):
    for (branch, out), rate in zip(probe(variables, x, seed), [0, 0.3, 0.6]):
      for b in range(8):
        kept = np.allclose(out[b], branch[b] / (1 - rate), rtol=1e-5, atol=1e-6)
        assert kept or bool(jnp.all(out[b] == 0)), "DropPath keeps a sample scaled by 1/keep or zeroes it"
      kept_mask = [bool(jnp.any(out[b] != 0)) for b in range(8)]
      per_sample |= len(set(kept_mask)) == 2
  assert per_sample, "DropPath must drop some samples of a batch and keep others"


def test_resnetrs_dropout_before_classifier():
  model = archs.create_model("resnetrs50", **SMALL)
  x = jax.random.normal(jax.random.key(5), (2, 16, 16, 3))
  variables = init(model, x)
  run = jitted(model, train=True, return_features=True, mutable=["batch_stats"])
  outs = [run(variables, x, seed)[0] for seed in (0, 1)]
  np.testing.assert_allclose(outs[0]["pre_logits"], outs[1]["pre_logits"], rtol=1e-6,
                             err_msg="ResNet-RS-50 has no stochastic depth: features are deterministic")
  assert not np.allclose(outs[0]["logits"], outs[1]["logits"]), "dropout 0.25 acts on the classifier input"


def test_bam_product_combination_selectable():
  from archs.layers.bam import BAM
  x = jax.random.normal(jax.random.key(6), (2, 32, 32, 3))
  summed = archs.create_model("bam_resnet18", **SMALL)
  product = archs.create_model("bam_resnet18", **SMALL, stage_attention=functools.partial(BAM, combine="product"))
  variables = init(summed, x)
  assert not np.allclose(jitted(summed)(variables, x), jitted(product)(variables, x)), "sum and product must differ"


@pytest.mark.parametrize("name,channels", [
    ("resnet50", (256, 512, 1024, 2048)), ("resnet50_blur", (256, 512, 1024, 2048)),
    ("resnetrs50", (256, 512, 1024, 2048)), ("bam_resnet50", (256, 512, 1024, 2048)),
    ("preact_resnet34", (64, 128, 256, 512)), ("resnet34_blur", (64, 128, 256, 512))])
def test_imagenet_feature_shapes_at_224(name, channels):
  # jax.eval_shape traces without computing: the real 224 x 224 geometry at no cost.
  model = archs.create_model(name)
  x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), x)
  out = jax.eval_shape(lambda v, x: model.apply(v, x, return_features=True), variables, x)
  got = [s.shape for s in out["stages"]]
  want = [(2, size, size, c) for size, c in zip((56, 28, 14, 7), channels)]
  assert got == want, f"{name} at 224: stage maps {want} expected, got {got}"
  assert out["logits"].shape == (2, 1000), f"{name}: logits (2, 1000)"
