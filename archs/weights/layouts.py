"""Every layout, by our model name and reference family."""
from __future__ import annotations

from archs.weights import (pytorchcv_layouts, sequence_layouts, timm_layouts, torchvision_layouts,
                           vanillanet_layouts, vision_transformer_layouts as vt)
from archs.weights.convert import Layout

_FAMILIES = (("torchvision", {**torchvision_layouts.LAYOUTS, **vt.TORCHVISION_LAYOUTS}),
             ("timm", {**timm_layouts.LAYOUTS, **vt.TIMM_LAYOUTS}),
             ("pytorchcv", pytorchcv_layouts.LAYOUTS), ("vanillanet", vanillanet_layouts.TRAIN_LAYOUTS),
             ("vanillanet_deploy", vanillanet_layouts.DEPLOY_LAYOUTS), ("torch", sequence_layouts.LAYOUTS),
             ("torchscale", sequence_layouts.RETNET_LAYOUTS))


def for_model(name: str) -> dict[str, Layout]:
  """{reference family: layout} for model `name`; an error naming the models that have one if it has none."""
  found = {family: table[name] for family, table in _FAMILIES if name in table}
  if not found:
    raise ValueError(f"model {name!r} has no weight converter; models with one: {', '.join(models_with_layouts())}")
  return found


def models_with_layouts() -> list[str]:
  return sorted({name for _, table in _FAMILIES for name in table})
