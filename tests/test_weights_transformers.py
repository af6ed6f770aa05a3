"""Logit parity with timm's ViT and Swin and torchvision's Swin after converting their state_dicts.

Random weights: Linear weights from N(0, 1/fan_in) so that attention is far from uniform (a wrong query/key split
or head order shows), learned tokens and bias tables from N(0, 0.5). The default run converts tiny members (the
layout does not depend on width or depth); `-m slow` every registered variant at its full size.
"""
import pytest

from tests.weights_parity import image_parity

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("fast_compile")]
TOL = 1e-4
TINY_VIT = dict(patch_size=8, embed_dim=48, depth=2, num_heads=3, num_classes=5)
# 32x32 with window 4: maps 8x8 (shifted windows) and 4x4, multiples of the window (torchvision pads unmasked).
TINY_SWIN = dict(depths=(2, 2), num_heads=(2, 4), embed_dim=24, window_size=4, num_classes=5)


def _timm_vit(**kw):
  from timm.models import vision_transformer  # noqa: PLC0415
  return vision_transformer.VisionTransformer(**kw)


def _timm_swin(**kw):
  from timm.models import swin_transformer  # noqa: PLC0415
  return swin_transformer.SwinTransformer(**kw)


def _tv_swin(depths, num_heads, embed_dim, window_size, num_classes):
  from torchvision.models import swin_transformer  # noqa: PLC0415
  return swin_transformer.SwinTransformer(patch_size=[4, 4], embed_dim=embed_dim, depths=list(depths),
                                          num_heads=list(num_heads), window_size=[window_size] * 2,
                                          num_classes=num_classes)


def test_vit_timm_layout():
  """img_size is read off the checkpoint's position table (32 here)."""
  err = image_parity("vit_base_patch16_224", "timm", _timm_vit(img_size=32, **TINY_VIT), 32, linear_fan_in=True,
                     **TINY_VIT)
  print(f"timm ViT (tiny): {err:.2e}")
  assert err < TOL, f"timm ViT: max relative logit error {err:.2e} >= {TOL}"


@pytest.mark.parametrize("family,build", [("timm", lambda: _timm_swin(img_size=32, patch_size=4, **TINY_SWIN)),
                                          ("torchvision", lambda: _tv_swin(**TINY_SWIN))])
def test_swin_layouts(family, build):
  err = image_parity("swin_tiny_patch4_window7_224", family, build(), 32, linear_fan_in=True, **TINY_SWIN)
  print(f"{family} Swin (tiny): {err:.2e}")
  assert err < TOL, f"{family} Swin: max relative logit error {err:.2e} >= {TOL}"


def test_a_wrong_split_is_caught():
  """The measure can fail: query and key swapped in the checkpoint give logits far from the reference's."""
  import archs  # noqa: PLC0415
  from archs.weights import layouts  # noqa: PLC0415
  from tests.weights_parity import randomize, relative_error, state_dict_numpy  # noqa: PLC0415
  import numpy as np  # noqa: PLC0415
  import torch  # noqa: PLC0415
  reference = randomize(_timm_vit(img_size=32, **TINY_VIT), linear_fan_in=True)
  state = state_dict_numpy(reference)
  d = TINY_VIT["embed_dim"]
  for key in ("blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias"):
    state[key] = np.concatenate([state[key][d:2 * d], state[key][:d], state[key][2 * d:]])
  model, variables = archs.weights.from_state_dict("vit_base_patch16_224", state,
                                                   layouts.for_model("vit_base_patch16_224")["timm"], **TINY_VIT)
  x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
  with torch.no_grad():
    ref = reference(torch.from_numpy(x)).numpy()
  assert relative_error(model.apply(variables, x.transpose(0, 2, 3, 1)), ref) > 100 * TOL


TIMM_FULL = ["vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224", "vit_large_patch16_224",
             "vit_base_patch32_224", "swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224",
             "swin_base_patch4_window7_224"]
TORCHVISION_FULL = {"swin_tiny_patch4_window7_224": "swin_t", "swin_small_patch4_window7_224": "swin_s",
                    "swin_base_patch4_window7_224": "swin_b"}


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMM_FULL)
def test_timm_full_parity(name):
  import timm  # noqa: PLC0415
  err = image_parity(name, "timm", timm.create_model(name, pretrained=False), 224, batch=1, linear_fan_in=True)
  print(f"timm {name}: {err:.2e}")
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TORCHVISION_FULL))
def test_torchvision_full_parity(name):
  import torchvision  # noqa: PLC0415
  err = image_parity(name, "torchvision", getattr(torchvision.models, TORCHVISION_FULL[name])(), 224, batch=1,
                     linear_fan_in=True)
  print(f"torchvision {TORCHVISION_FULL[name]}: {err:.2e}")
  assert err < TOL, f"{name}: max relative logit error {err:.2e} >= {TOL}"
