"""One registry, one factory: every model is reachable by name.

A registered function's body is just its hyperparameters; `create_model` forwards overrides
(`num_classes`, `dtype`, `drop_path_rate`, ...) to it.

The contract every registered model keeps (`contract_violations` states it as code; tests/test_contract.py
checks it over `list_models()`, so a model is tested the moment it is registered):
1. It is a Flax Linen module with a `dtype` field: the compute dtype (parameters stay float32).
2. Its output size is one field from OUTPUT_SIZE_FIELDS, which the trainer sets from the data: `num_classes`
   (classifiers of images, graphs, flat features), `vocab_size` (token models), `num_outputs` (regression
   targets, PonderNet's outputs). A model whose output size is fixed by its definition (logistic regression's one
   logit) has none.
3. `__call__` takes the model's inputs positionally (an optional input defaults to None) and everything else
   keyword-only: `train: bool = False` (every model accepts it; True switches BatchNorm to batch statistics and
   dropout, drop-path and stochastic depth on, drawing from the 'dropout' RNG stream), `return_features`, modes,
   and scheduled hyperparameters (VanillaNet's `act_lambda`: traced values with a default, never fields).
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
from typing import Callable

import flax.linen as nn

OUTPUT_SIZE_FIELDS = ("num_classes", "vocab_size", "num_outputs")

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


def unregister_model(name: str) -> None:
  """Removes `name` (a model registered for one test or one session; the built-in names stay)."""
  _check_name(name)
  del _MODELS[name]
  _DEPLOY_FNS.pop(name, None)


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
  fields = model_fields(module)
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise UnknownModelError(
        f"model {name!r} has no field {', '.join(map(repr, unknown))}; accepted: {', '.join(sorted(fields))}")
  return _MODELS[name](**overrides)


def get_to_deploy(name: str) -> Callable | None:
  """The model's train-to-deploy variable conversion, or None if it has no deploy form."""
  _check_name(name)
  return _DEPLOY_FNS.get(name)


def model_fields(module: nn.Module) -> set[str]:
  """The fields `create_model` accepts as overrides."""
  return {f.name for f in dataclasses.fields(module) if f.init and f.name not in ("parent", "name")}


def contract_violations(module: nn.Module) -> list[str]:
  """How `module` breaks the contract in the module docstring (empty when it keeps it)."""
  if not isinstance(module, nn.Module):
    return [f"{type(module).__name__} is not a flax.linen Module"]
  problems, fields = [], model_fields(module)
  if "dtype" not in fields:
    problems.append("no field 'dtype' (the compute dtype)")
  sizes = sorted(fields & set(OUTPUT_SIZE_FIELDS))
  if len(sizes) > 1:
    problems.append(f"output size fields {sizes}; accepted: one of {OUTPUT_SIZE_FIELDS}")
  params = list(inspect.signature(type(module).__call__).parameters.values())[1:]
  if "train" not in {p.name for p in params}:
    problems.append("__call__ has no 'train' argument")
  for p in params:
    optional_input = p.kind is p.POSITIONAL_OR_KEYWORD and p.default is None
    if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty and not optional_input:
      problems.append(f"__call__ argument {p.name!r} has a default but is positional; accepted: keyword-only "
                      "(after '*')")
  return problems
