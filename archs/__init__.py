"""archs: the architectures of the deep-learning literature as Flax Linen modules.

Needs only jax, flax and numpy. `import archs` imports no model file: `create_model(name)` imports the one file
that registers `name` (archs/registry.py's MODEL_FILES), and `archs.resnet` etc. import on first access.
"""
import importlib
import importlib.util

from archs.registry import create_model, get_to_deploy, list_models, register_model, UnknownModelError

__version__ = "0.1.0"


def __getattr__(name):  # PEP 562: `archs.transformer.greedy_decode` without importing every file up front
  if name == "profile":  # archs.costs imports jax
    return importlib.import_module(f"{__name__}.costs").profile
  if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "profile", "create_model", "get_to_deploy", "list_models", "register_model",
           "UnknownModelError"]
