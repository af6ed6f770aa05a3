"""Reading reference checkpoints and saving converted variables; torch is imported only to read .pth/.bin files."""
from __future__ import annotations

import json
import os
import pathlib
import urllib.request

import numpy as np

from archs.weights.convert import flatten, unflatten

CACHE_ENV = "ARCHS_CACHE"
_WRAPPERS = ("state_dict", "model", "model_ema", "module")  # training scripts nest the weights under these keys


def cache_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get(CACHE_ENV, pathlib.Path.home() / ".cache" / "archs"))


def read_state_dict(path) -> dict[str, np.ndarray]:
  """A reference checkpoint (.pth/.pt/.bin via torch, .safetensors, .npz) as {key: numpy array}."""
  path = pathlib.Path(path)
  suffix = path.suffix.lower()
  if suffix == ".safetensors":
    from safetensors.numpy import load_file  # noqa: PLC0415 (optional dependency)
    state = load_file(str(path))
  elif suffix == ".npz":
    with np.load(path) as data:
      state = {k: data[k] for k in data.files if k != INFO_KEY}
  elif suffix in (".pth", ".pt", ".bin", ".ckpt"):
    try:
      import torch  # noqa: PLC0415 (only to unpickle torch checkpoints)
    except ImportError as e:
      raise ImportError(f"reading {path.name} needs torch (pip install torch), or convert it to .safetensors") from e
    state = torch.load(str(path), map_location="cpu", weights_only=True)
  else:
    raise ValueError(f"unknown checkpoint format {path.name!r}; accepted: .pth, .pt, .bin, .ckpt, .safetensors, .npz")
  while isinstance(state, dict) and not any(hasattr(v, "shape") for v in state.values()):
    inner = next((state[k] for k in _WRAPPERS if k in state), None)
    if inner is None:
      raise ValueError(f"{path.name} holds no tensors at its top level nor under {', '.join(_WRAPPERS)}")
    state = inner
  out = {}
  for key, value in state.items():
    if hasattr(value, "detach"):
      value = value.detach().float().numpy() if value.is_floating_point() else value.numpy()
    out[key.removeprefix("module.")] = np.asarray(value)
  return out


def _hub_url(source: str) -> str | None:
  if source.startswith(("http://", "https://")):
    return source
  if source.startswith("hf-hub:"):
    return f"https://huggingface.co/{source[len('hf-hub:'):]}/resolve/main/model.safetensors"
  if source.startswith("torchvision:"):
    try:
      from torchvision.models import get_weight  # noqa: PLC0415 (the URL table lives in torchvision)
    except ImportError as e:
      raise ImportError(f"{source!r}: torchvision's weight names need torchvision installed, or pass the .pth "
                        "file itself") from e
    return get_weight(source[len("torchvision:"):]).url
  return None


def resolve_source(source) -> pathlib.Path:
  """A local file as is; a hub name ('torchvision:ResNet50_Weights.IMAGENET1K_V2', 'hf-hub:timm/resnet50d.ra2_in1k',
  or a URL) downloaded once into the cache directory ($ARCHS_CACHE, default ~/.cache/archs)."""
  path = pathlib.Path(source)
  if path.is_file():
    return path
  url = _hub_url(str(source))
  if url is None:
    raise FileNotFoundError(f"no file {source!r}, and it is not a hub name (accepted: a local .pth/.bin/.safetensors/"
                            ".npz file, 'torchvision:<WeightsEnum>', 'hf-hub:<repo>', an http(s) URL)")
  name = url.split("/")[-1] if not str(source).startswith("hf-hub:") else source[7:].replace("/", "--") + ".safetensors"
  target = cache_dir() / name
  if target.is_file():
    return target
  try:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    urllib.request.urlretrieve(url, partial)
    partial.replace(target)
  except OSError as e:
    raise OSError(f"cannot download {url} ({type(e).__name__}); place that file at {target} and call again") from None
  return target


INFO_KEY = "__info__"  # the preprocessing record save_variables keeps in the .npz beside the variables
_RECORD_FIELDS = ("input_size", "crop_pct", "interpolation", "mean", "std", "checkpoint")


def save_variables(path, variables, info=None) -> None:
  """Writes a variables tree ({'params', 'batch_stats', ...}) to a torch-free .npz file.

  `info` (an archs.ModelInfo, e.g. from archs.pretrained_info) stores its preprocessing fields (input size, crop_pct,
  interpolation, mean/std, checkpoint) in the same file; `pretrained_info(name, path)` reads them back.
  """
  flat = {k: np.asarray(v) for k, v in flatten(variables).items()}
  if info is not None:
    flat[INFO_KEY] = np.asarray(json.dumps({f: getattr(info, f) for f in _RECORD_FIELDS}))
  with open(path, "wb") as f:
    np.savez(f, **flat)


def load_variables(path) -> dict:
  """The variables tree `save_variables` wrote (numpy arrays; pass it to model.apply as is)."""
  with np.load(path) as data:
    return unflatten({k: data[k] for k in data.files if k != INFO_KEY})


def _tuples(value):
  return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def saved_record(path) -> dict | None:
  """The preprocessing fields save_variables stored in the .npz at `path` (None: none stored, or not such a file)."""
  path = pathlib.Path(path)
  if path.suffix.lower() != ".npz" or not path.is_file():
    return None
  with np.load(path) as data:
    if INFO_KEY not in data.files:
      return None
    return {k: _tuples(v) for k, v in json.loads(str(data[INFO_KEY])).items()}
