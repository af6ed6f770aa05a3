"""Logit parity with timm's models after converting their state_dicts (random weights and BN statistics).

The default run converts shallow members (the layout is the same at every depth); `-m slow` every variant in full.
"""
import pytest

from tests.weights_parity import image_parity

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("fast_compile")]
TOL = 1e-4
SHALLOW_RESNET = dict(stage_sizes=(1, 1, 1, 1))
TINY_CONVNEXT = dict(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32))


def _timm(name, **kw):
  import timm  # noqa: PLC0415
  return timm.create_model(name, pretrained=False, **kw)


SHALLOW = {
    # our name: (our overrides, timm overrides, input size)
    "resnet50d": (SHALLOW_RESNET, dict(layers=[1, 1, 1, 1]), 45),
    "seresnet50": (SHALLOW_RESNET, dict(layers=[1, 1, 1, 1]), 45),
    "resnetrs50": (SHALLOW_RESNET, dict(layers=[1, 1, 1, 1]), 45),
    "convnext_tiny": (TINY_CONVNEXT, TINY_CONVNEXT, 64),
    "mobilenet_v1_100": ({}, {}, 45),
}
TIMM_NAME = {"mobilenet_v1_100": "mobilenetv1_100"}


@pytest.mark.parametrize("name", sorted(SHALLOW))
def test_layout_parity(name):
  ours, theirs, size = SHALLOW[name]
  err = image_parity(name, "timm", _timm(TIMM_NAME.get(name, name), **theirs), size, **ours)
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50d", "seresnet50", "resnetrs50", "mobilenet_v1_100", "convnext_tiny",
                                  "convnext_small", "convnext_base", "convnext_large", "convnext_xlarge"])
def test_full_parity(name):
  err = image_parity(name, "timm", _timm(TIMM_NAME.get(name, name)), 57, batch=1)
  print(f"{name}: {err:.2e}")
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"
