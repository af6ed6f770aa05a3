"""One registry, one factory: every model is reachable by name.

A registered function's body is just its hyperparameters; `create_model` forwards overrides
(`num_classes`, `dtype`, `drop_path_rate`, ...) to it.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from typing import Callable

import flax.linen as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_DEPLOY_FNS: dict[str, Callable] = {}


class UnknownModelError(KeyError):
  """An unknown model name or an override the model does not accept."""

  def __str__(self):  # KeyError would quote the message.
    return str(self.args[0])


def register_model(fn: Callable[..., nn.Module] | None = None, *, name: str | None = None,
                   to_deploy: Callable | None = None):
  """Registers `fn(**overrides) -> nn.Module` under `name` (default: the function's name).

  `to_deploy(variables) -> variables` converts trained variables into those of
  `create_model(name, deploy=True)` (re-parameterised inference form), where a model has one.
  """
  def decorate(f):
    key = name or f.__name__
    if key in _MODELS:
      raise ValueError(f"model {key!r} is registered twice")
    _MODELS[key] = f
    if to_deploy is not None:
      _DEPLOY_FNS[key] = to_deploy
    return f
  return decorate(fn) if fn is not None else decorate


def list_models(pattern: str | None = None) -> list[str]:
  """Sorted registered names, filtered by an fnmatch pattern such as 'resnet*'."""
  names = sorted(_MODELS)
  return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def _check_name(name: str) -> None:
  if name not in _MODELS:
    close = difflib.get_close_matches(name, _MODELS, n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"see archs.list_models() ({len(_MODELS)} models)"
    raise UnknownModelError(f"unknown model {name!r}; {hint}")


def create_model(name: str, **overrides) -> nn.Module:
  """Builds the registered model `name`, with fields replaced by `overrides`."""
  _check_name(name)
  module = _MODELS[name]()
  if not overrides:
    return module
  fields = {f.name for f in dataclasses.fields(module) if f.init and f.name not in ("parent", "name")}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise UnknownModelError(
        f"model {name!r} has no field {', '.join(map(repr, unknown))}; accepted: {', '.join(sorted(fields))}")
  return _MODELS[name](**overrides)


def get_to_deploy(name: str) -> Callable | None:
  """The model's train-to-deploy variable conversion, or None if it has no deploy form."""
  _check_name(name)
  return _DEPLOY_FNS.get(name)
