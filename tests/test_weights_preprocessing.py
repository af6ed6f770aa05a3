"""archs/weights/checkpoints.py against the installed torchvision's weight transforms and timm's pretrained_cfg."""
import numpy as np
import pytest

from archs.weights import checkpoints, layouts

pytestmark = [pytest.mark.torch]


def _entries(family):
  return {key: entry for key, entry in checkpoints.CHECKPOINTS.items() if entry[0] == family}


def test_torchvision_entries_match_torchvision():
  from torchvision.models import get_weight  # noqa: PLC0415
  for key, (_, file, size, crop_pct, interpolation, (mean, std)) in _entries(checkpoints.TV).items():
    weights = get_weight(key.removeprefix("torchvision:"))
    t = weights.transforms()
    assert file == weights.url.rsplit("/", 1)[-1], f"{key}: file {file}"
    assert (size, crop_pct) == (t.crop_size[0], t.crop_size[0] / t.resize_size[0]), f"{key}: size/crop_pct"
    assert interpolation == t.interpolation.value, f"{key}: interpolation"
    np.testing.assert_allclose((mean, std), (t.mean, t.std), rtol=1e-6, err_msg=f"{key}: mean/std")


def test_timm_entries_match_timm():
  import timm  # noqa: PLC0415
  for key, (_, _, size, crop_pct, interpolation, (mean, std)) in _entries(checkpoints.TIMM).items():
    cfg = timm.models.get_pretrained_cfg(key.removeprefix("hf-hub:timm/")).to_dict()
    assert (size, crop_pct, interpolation) == (cfg["input_size"][1], cfg["crop_pct"], cfg["interpolation"]), key
    np.testing.assert_allclose((mean, std), (cfg["mean"], cfg["std"]), rtol=1e-6, err_msg=f"{key}: mean/std")


def test_every_model_with_a_torchvision_or_timm_layout_has_a_checkpoint():
  covered = {entry[0]: set() for entry in checkpoints.CHECKPOINTS.values()}
  from torchvision.models import get_weight  # noqa: PLC0415
  for key, entry in checkpoints.CHECKPOINTS.items():
    if entry[0] == checkpoints.TV:
      covered[entry[0]].add(get_weight(key.removeprefix("torchvision:")).url.rsplit("/", 1)[-1].split("-")[0])
    else:
      covered[entry[0]].add(key.removeprefix("hf-hub:timm/").split(".")[0])
  timm_names = {"mobilenet_v1_100": "mobilenetv1_100"}
  tv_names = {"swin_tiny_patch4_window7_224": "swin_t", "swin_small_patch4_window7_224": "swin_s",
              "swin_base_patch4_window7_224": "swin_b"}
  for name in layouts.models_with_layouts():
    families = layouts.for_model(name)
    if "timm" in families:
      assert timm_names.get(name, name) in covered[checkpoints.TIMM], f"{name}: no timm checkpoint in the table"
    if "torchvision" in families:
      assert tv_names.get(name, name) in covered[checkpoints.TV], f"{name}: no torchvision checkpoint in the table"
