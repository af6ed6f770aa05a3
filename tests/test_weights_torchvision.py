"""Logit parity with torchvision's models after converting their state_dicts (random weights and BN statistics).

The default run converts shallow members of each family (the layout is the same at every depth); `-m slow`
converts every registered variant at full depth, and GoogLeNet.
"""
import pytest

from tests.weights_parity import image_parity

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("fast_compile")]
TOL = 1e-4


def _tv(builder, **kw):
  import torchvision  # noqa: PLC0415
  return getattr(torchvision.models, builder)(**kw)


def _resnet(block, layers, **kw):
  from torchvision.models import resnet  # noqa: PLC0415
  return resnet.ResNet(getattr(resnet, block), layers, **kw)


SHALLOW = {
    # our name, overrides, reference builder, input size (odd sizes exercise padding and ceil-mode pools)
    "resnet18": (dict(stage_sizes=(1, 1, 1, 1)), lambda: _resnet("BasicBlock", [1, 1, 1, 1]), 45),
    "resnext50_32x4d": (dict(stage_sizes=(1, 1, 1, 1)),
                        lambda: _resnet("Bottleneck", [1, 1, 1, 1], groups=32, width_per_group=4), 45),
    "vgg11_bn": ({}, lambda: _tv("vgg11_bn"), 35),
    "densenet121": (dict(block_config=(1, 2, 1, 1)),
                    lambda: _tv("DenseNet", block_config=(1, 2, 1, 1)), 45),
    "convnext_tiny": (dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)), lambda: _convnext((1, 1, 1, 1), (8, 16, 24, 32)), 64),
}


def _convnext(depths, dims):
  from torchvision.models import convnext  # noqa: PLC0415
  settings = [convnext.CNBlockConfig(dims[i], dims[i + 1] if i < 3 else None, depths[i]) for i in range(4)]
  return convnext.ConvNeXt(settings)


@pytest.mark.parametrize("name", sorted(SHALLOW))
def test_layout_parity(name):
  overrides, build, size = SHALLOW[name]
  err = image_parity(name, "torchvision", build(), size, **overrides)
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"


FULL = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
        "wide_resnet50_2", "wide_resnet101_2", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
        "vgg16_bn", "vgg19_bn", "densenet121", "densenet169", "densenet201", "densenet161", "convnext_tiny",
        "convnext_small", "convnext_base", "convnext_large"]


@pytest.mark.slow
def test_googlenet_with_transform_input():
  """torchvision's ImageNet GoogLeNet re-normalises its input (transform_input=True); the layout sets ours so."""
  reference = _tv("googlenet", aux_logits=True, transform_input=True, init_weights=True)
  err = image_parity("googlenet", "torchvision", reference, 67)  # 67: every ceil-mode pool rounds up
  print(f"googlenet: {err:.2e}")
  assert err < TOL, f"googlenet: max relative logit error {err:.2e} >= {TOL}"


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL)
def test_full_parity(name):
  err = image_parity(name, "torchvision", _tv(name), 35 if name.startswith("vgg") else 57, batch=1)
  print(f"{name}: {err:.2e}")
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"
