"""archs: the architectures of the deep-learning literature as Flax Linen modules.

Needs only jax, flax and numpy. `import archs` imports no model file: `create_model(name)` imports the one file
that registers `name` (archs/registry.py's MODEL_FILES), and `archs.resnet` etc. import on first access.
"""
import importlib
import importlib.util

from archs.registry import create_model, get_to_deploy, list_models, register_model, UnknownModelError

__version__ = "0.1.0"

# Functions that live in modules importing jax: loaded on first use, so `import archs` stays light.
_LAZY = {"profile": "costs", "load_pretrained": "weights", "load_variables": "weights", "save_variables": "weights",
         "pretrained_info": "weights", "model_info": "info", "ModelInfo": "info"}


def __getattr__(name):  # PEP 562: `archs.transformer.greedy_decode` without importing every file up front
  if name in _LAZY:
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
  if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "create_model", "get_to_deploy", "list_models", "load_pretrained", "load_variables",
           "model_info", "ModelInfo", "pretrained_info", "profile", "register_model", "save_variables",
           "UnknownModelError"]
