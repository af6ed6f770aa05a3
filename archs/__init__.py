"""archs: the architectures of the deep-learning literature as Flax Linen modules.

Needs only jax, flax and numpy. Every model module in this package registers its variants
on import; they are imported here so that `create_model` knows every name.
"""
import importlib
import pkgutil

__version__ = "0.1.0"

from archs.registry import create_model, get_to_deploy, list_models, register_model, UnknownModelError
from archs.costs import profile

# Every public module of the package is a model file (archs/layers holds the shared blocks).
for _info in pkgutil.iter_modules(__path__):
  if not _info.name.startswith("_") and _info.name not in ("registry", "layers", "costs", "weights"):
    importlib.import_module(f"{__name__}.{_info.name}")

from archs.weights import load_pretrained, load_variables, save_variables  # noqa: E402  (after the models)

__all__ = ["__version__", "create_model", "get_to_deploy", "list_models", "load_pretrained", "load_variables",
           "profile", "register_model", "save_variables", "UnknownModelError"]
