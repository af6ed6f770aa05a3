"""`load_pretrained(name, source)`: a reference checkpoint converted into one of our models' variables."""
from __future__ import annotations

import dataclasses
import re
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from archs.registry import create_model
from archs.weights import layouts
from archs.weights.convert import ConversionError, Layout, convert_state_dict, flatten, unflatten, unmatched_keys
from archs.weights import checkpoints
from archs.weights.files import read_state_dict, resolve_source, saved_record


def checkpoint_num_classes(state_dict: Mapping[str, np.ndarray], layout: Layout) -> int | None:
  """The class count of the reference's classifier (the first head weight's output axis)."""
  for key, value in state_dict.items():
    if key.endswith("weight") and re.fullmatch(layout.head_pattern, key):
      return int(value.shape[0])
  return None


def fitting_layouts(name: str, state_dict: Mapping[str, np.ndarray]) -> dict[str, Layout]:
  """The layouts of `name` whose rules place every key of `state_dict` (fewest unplaced first if none does)."""
  candidates = layouts.for_model(name)
  unplaced = {family: len(unmatched_keys(state_dict, layout)) for family, layout in candidates.items()}
  fitting = {f: candidates[f] for f in candidates if unplaced[f] == 0}
  return fitting or {f: candidates[f] for f in sorted(candidates, key=unplaced.get)}


def layout_options(name: str, source) -> dict:
  """The model options the checkpoint at `source` needs (e.g. GoogLeNet's transform_input for torchvision's)."""
  state_dict = read_state_dict(resolve_source(source))
  return dict(next(iter(fitting_layouts(name, state_dict).values())).model_kwargs)


def init_inputs(layout: Layout):
  if layout.init_input is not None:
    return layout.init_input()
  return jnp.zeros((1, layout.input_size, layout.input_size, 3), jnp.float32)


def from_state_dict(name: str, state_dict: Mapping[str, np.ndarray], layout: Layout, seed: int = 0, **overrides):
  """(model, variables) of registered model `name` built with `layout`'s options and `overrides`.

  A `num_classes` that differs from the checkpoint's keeps every weight but the classifier's, which is
  initialised as the model initialises it (fine-tuning).
  """
  kwargs = dict(layout.model_kwargs)
  if layout.options_from is not None:
    kwargs.update(layout.options_from(state_dict))
  ckpt_classes = checkpoint_num_classes(state_dict, layout) if layout.head else None
  if ckpt_classes is not None:
    kwargs["num_classes"] = ckpt_classes
  kwargs.update(overrides)
  model = create_model(name, **kwargs)
  inputs = init_inputs(layout)
  key = jax.random.key(seed)
  target = jax.eval_shape(lambda: model.init(key, inputs))
  new_head = ckpt_classes is not None and kwargs["num_classes"] != ckpt_classes
  variables = convert_state_dict(state_dict, target, layout, skip_head=new_head)
  if new_head:
    fresh = flatten(jax.jit(model.init)(key, inputs))
    variables = flatten(variables)
    variables.update({p: v for p, v in fresh.items() if p not in variables})
    variables = unflatten(variables)
  return model, jax.tree.map(jnp.asarray, variables)


def load_pretrained(name: str, source, *, layout: str | None = None, seed: int = 0, **overrides):
  """(model, variables) of `name` from a reference checkpoint.

  `source`: a local .pth/.pt/.bin/.safetensors/.npz file, or a hub name ('torchvision:ResNet50_Weights.IMAGENET1K_V2',
  'hf-hub:timm/resnet50d.ra2_in1k', a URL) fetched into the cache directory. `layout` picks the reference family
  ('torchvision', 'timm', 'pytorchcv', ...) when the model has several; by default the one whose keys fit.
  `overrides` go to create_model; `num_classes` different from the checkpoint's gets a fresh classifier.
  """
  candidates = layouts.for_model(name)
  if layout is not None and layout not in candidates:
    raise ValueError(f"model {name!r} has no {layout!r} layout; accepted: {', '.join(candidates)}")
  path = resolve_source(source)
  state_dict = read_state_dict(path)
  candidates = {layout: candidates[layout]} if layout is not None else fitting_layouts(name, state_dict)
  errors = []
  for family, candidate in candidates.items():
    try:
      return from_state_dict(name, state_dict, candidate, seed=seed, **overrides)
    except ConversionError as e:
      errors.append(f"[{family}] {e}")
  raise ConversionError(f"{path.name} fits no layout of {name!r}: " + " | ".join(errors))


def pretrained_info(name: str, source):
  """archs.model_info(name) with the preprocessing of the checkpoint `source` (what load_pretrained(name, source)
  loads): input size, crop_pct, interpolation, mean/std, and `checkpoint`, the table entry they come from.

  A known hub name ('torchvision:ResNet50_Weights.IMAGENET1K_V2', 'hf-hub:timm/vit_base_patch16_224.augreg2_in21k_ft_in1k')
  or a file named as its download is looked up in archs/weights/checkpoints.py; a .npz that save_variables wrote with
  `info` gives the record stored in it; any other file, the model's reference record (checkpoint None). Offline:
  nothing is downloaded.
  """
  from archs.info import model_info  # noqa: PLC0415 (info imports every model file's registry entry)
  base = model_info(name)
  key = checkpoints.checkpoint_key(source)
  fields = checkpoints.preprocessing(key, base.image_channels or 3) if key else saved_record(source)
  return dataclasses.replace(base, **fields) if fields else base
