"""Logit parity with pytorchcv's (imgclsmob's) models after converting their state_dicts.

The default run converts a small member of most layouts; `-m slow` every registered variant in full (AlexNet/ZFNet
with torch's LRN and FractalNet only there: they are heavy).
"""
import pytest

from tests.weights_parity import image_parity

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("fast_compile")]
TOL = 1e-4


def _global_pool(model):
  """imgclsmob's ImageNet nets end in AvgPool2d(7), global only at 224; a global pool lets smaller inputs through."""
  import torch  # noqa: PLC0415
  if isinstance(getattr(model.features, "final_pool", None), torch.nn.AvgPool2d):
    model.features.final_pool = torch.nn.AdaptiveAvgPool2d(1)
  return model


def _cv(name, **kw):
  from pytorchcv.model_provider import get_model  # noqa: PLC0415
  return _global_pool(get_model(name, pretrained=False, **kw))


def _wrn(depth, width):
  from pytorchcv.models.wrn_cifar import get_wrn_cifar  # noqa: PLC0415
  return get_wrn_cifar(num_classes=10, blocks=depth, width_factor=width)


def _preresnet10():
  from pytorchcv.models.preresnet import get_preresnet  # noqa: PLC0415
  return _global_pool(get_preresnet(blocks=10))


SHALLOW = {
    # our name: (our overrides, reference builder, input size)
    "mobilenet_v1_100": ({}, lambda: _cv("mobilenet_w1"), 45),
    "preact_resnet18": (dict(stage_sizes=(1, 1, 1, 1)), _preresnet10, 45),
    "wide_resnet16_8": (dict(widen_factor=2), lambda: _wrn(16, 2), 32),
    "bam_resnet18": ({}, lambda: _cv("bam_resnet18"), 64),
}


@pytest.mark.parametrize("name", sorted(SHALLOW))
def test_layout_parity(name):
  overrides, build, size = SHALLOW[name]
  err = image_parity(name, "pytorchcv", build(), size, **overrides)
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"


FULL = {
    "zfnet": ("zfnet", 224), "alexnet": ("alexnet", 224),  # 224: ceil-mode pools 54 -> 27 -> 13 -> 6
    "fractalnet20": ("fractalnet_cifar10", 32),
    "mobilenet_v1_075": ("mobilenet_w3d4", 57), "mobilenet_v1_050": ("mobilenet_wd2", 57),
    "mobilenet_v1_025": ("mobilenet_wd4", 57),
    **{f"densenet{d}": (f"densenet{d}", 57) for d in (121, 169, 201, 161)},
    # imgclsmob's bottleneck preresnet{d} strides its first 1x1 conv; preresnet{d}b the 3x3 conv, as ours.
    **{f"preact_resnet{d}": (f"preresnet{d}" + ("b" if d >= 50 else ""), 57) for d in (18, 34, 50, 101, 152)},
    **{f"bam_resnet{d}": (f"bam_resnet{d}", 64) for d in (18, 34, 50)},
    "wide_resnet28_10": ("wrn28_10_cifar10", 32),
}
WRN = {f"wide_resnet{d}_{k}": (d, k) for d, k in ((40, 1), (40, 2), (40, 4), (16, 8))}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FULL) + sorted(WRN))
def test_full_parity(name):
  if name in WRN:
    reference, size = _wrn(*WRN[name]), 32
  else:
    reference, size = _cv(FULL[name][0]), FULL[name][1]
  err = image_parity(name, "pytorchcv", reference, size, batch=1)
  print(f"{name}: {err:.2e}")
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"
