"""The ResNet family's registered ablations: ResNeXt at fixed complexity (counts and MACs), ResNet-200, the deeper
ResNet-RS, the plain networks (`shortcut=False`) and the CIFAR ResNets by depth."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from tests.mac_count import macs

ORACLES = {
    # torchvision.models.resnet.ResNet(Bottleneck, layers, groups=g, width_per_group=w), 1000 classes
    "resnext50_2x40d": 25_425_000, "resnext50_4x24d": 25_292_968, "resnext50_8x14d": 25_603_016,
    "resnext101_2x40d": 44_456_296, "resnext101_4x24d": 44_363_432, "resnext101_8x14d": 45_104_328,
    "resnext101_32x4d": 44_177_704,
    # timm 1.x
    "resnet200": 64_673_832, "resnetrs101": 63_618_696, "resnetrs152": 86_621_576, "resnetrs200": 93_209_992,
    # akamaster/pytorch_resnet_cifar10 (option A, convs without bias), 10 classes; the paper's Table 6 rounds them
    # to 0.27M / 0.46M / 0.66M / 0.85M / 1.7M / 19.4M
    "resnet20_cifar": 269_722, "resnet32_cifar": 464_154, "resnet44_cifar": 658_586, "resnet56_cifar": 853_018,
    "resnet110_cifar": 1_727_962, "resnet1202_cifar": 19_421_274,
}
# torchvision's documented GFLOPS (multiply-accumulates) at 224x224: ResNet-50 4.09, ResNet-101 7.80.
TORCHVISION_GMACS = {"resnet50": 4.09, "resnet101": 7.80}


def count_params(model, size=32):
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "resnet1202_cifar" else n
                                  for n in sorted(ORACLES)])
def test_param_count_matches_reference(name):
  got = count_params(archs.create_model(name, **({"num_classes": 10} if name.endswith("_cifar") else {})))
  assert got == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params, got {got:,}"


@pytest.mark.parametrize("depth", [50, pytest.param(101, marks=pytest.mark.slow)])
def test_resnext_variants_keep_resnet_complexity(depth):
  base = macs(f"resnet{depth}")
  assert base / 1e9 == pytest.approx(TORCHVISION_GMACS[f"resnet{depth}"], rel=0.01), \
      f"the MAC count of resnet{depth} ({base / 1e9:.3f} G) should match torchvision's figure"
  for variant in ("2x40d", "4x24d", "8x14d", "32x4d"):
    got = macs(f"resnext{depth}_{variant}")
    assert abs(got / base - 1) < 0.05, f"resnext{depth}_{variant}: {got / 1e9:.3f} GMACs vs {base / 1e9:.3f}"


@pytest.mark.parametrize("depth,projections", [(18, (128, 256, 512)), (50, (256, 512, 1024, 2048))])
def test_plain_imagenet_resnet_has_no_shortcut_parameters(depth, projections):
  """Without shortcuts the projection convs (1x1, C_in -> C) and their BatchNorms (2 C) disappear."""
  expansion = 1 if depth < 50 else 4
  inputs = (64,) + tuple(c // 2 for c in projections[1:]) if expansion == 4 else tuple(c // 2 for c in projections)
  removed = sum(c_in * c + 2 * c for c_in, c in zip(inputs, projections))
  got = count_params(archs.create_model(f"resnet{depth}", shortcut=False))
  assert got == count_params(archs.create_model(f"resnet{depth}")) - removed, f"resnet{depth} plain: {got:,}"


@pytest.mark.slow
@pytest.mark.parametrize("name,plain", [("resnet18", {"shortcut": False}), ("resnet20_cifar", {"shortcut": False})])
def test_plain_blocks_drop_the_identity(name, plain):
  """With every block's residual branch silenced (BN gammas zero), a ResNet passes the stem's features through
  its identities, while a plain network's blocks output ReLU(0) = 0: only the classifier's bias remains."""
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  for overrides, constant in (({}, False), (plain, True)):
    model = archs.create_model(name, **overrides)
    variables = model.init(jax.random.key(1), x)
    in_branch = lambda key: "layer" in key and "scale" in key and "downsample" not in key
    silenced = jax.tree_util.tree_map_with_path(
        lambda path, p: jnp.zeros_like(p) if in_branch(jax.tree_util.keystr(path)) else p, variables)
    logits = np.asarray(model.apply(silenced, x))
    assert np.allclose(logits[0], logits[1]) == constant, f"{name} {overrides}: constant logits {constant} expected"


def test_plain_cifar_names_are_the_resnets_without_shortcuts():
  for depth in (20, 32, 44, 56, 110):
    plain = archs.create_model(f"plain{depth}_cifar")
    assert plain == archs.create_model(f"resnet{depth}_cifar", shortcut=False), f"plain{depth}_cifar"


def test_cifar_stem_is_kuangliu_resnet18():
  """kuangliu/pytorch-cifar's ResNet18 (3x3/1 stem conv, no pool), 10 classes: 11,173,962 parameters; a 32x32
  input reaches the last stage at 4x4 (the ImageNet stem: 1x1)."""
  from train import defaults
  config = defaults.load_config("cifar10_resnet", "resnet18")  # the ~95% preset trains this model
  model = archs.create_model(config.model, num_classes=10, **config.model_kwargs)
  assert count_params(model) == 11_173_962, f"got {count_params(model):,}"
  out = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                                      return_features=True)[0])
  assert [s.shape[1] for s in out["stages"]] == [32, 16, 8, 4]
