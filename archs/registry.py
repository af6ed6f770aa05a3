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
import importlib
import inspect
import sys
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # flax (and jax) load with the first model file, so `import archs` alone takes milliseconds
  import flax.linen as nn

OUTPUT_SIZE_FIELDS = ("num_classes", "vocab_size", "num_outputs")

# The built-in names, by the file (archs/<file>.py) that registers them. `create_model(name)` imports only that
# file, so `import archs` stays fast; tests/test_registry.py checks that this equals what importing every file
# registers. A new model file adds its line here.
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "alexnet": ("alexnet", "alexnet_grouped", "zfnet", "zfnet_paper"),
    "convnext": ("convnext_base", "convnext_large", "convnext_small", "convnext_tiny", "convnext_xlarge"),
    "densenet": ("densenet121", "densenet161", "densenet169", "densenet201"),
    "fractalnet": ("fractalnet20",),
    "gcn": ("gcn", "gcn_tiny"),
    "googlenet": ("googlenet", "googlenet_paper"),
    "hyper_lstm": ("hyper_lstm", "hyper_lstm_tiny"),
    "hypernet": ("hyper_resnet40_1",),
    "lenet": ("lenet5",),
    "lstm": ("lstm_base", "lstm_large", "lstm_tiny"),
    "lstm_seq2seq": ("lstm_seq2seq_sutskever", "lstm_seq2seq_tiny"),
    "mlp": ("linear_regression", "logistic_regression", "mlp", "softmax_regression"),
    "mobilenet": ("mobilenet_v1_025", "mobilenet_v1_050", "mobilenet_v1_075", "mobilenet_v1_100"),
    "perceptron": ("perceptron",),
    "pondernet": ("pondernet_parity", "pondernet_parity_paper"),
    "preact_resnet": ("preact_resnet101", "preact_resnet152", "preact_resnet18", "preact_resnet34",
        "preact_resnet50", "wide_resnet16_8", "wide_resnet28_10", "wide_resnet40_1", "wide_resnet40_2",
        "wide_resnet40_4"),
    "resnet": ("resnet101", "resnet152", "resnet18", "resnet34", "resnet50", "resnext101_32x8d", "resnext50_32x4d",
        "wide_resnet101_2", "wide_resnet50_2"),
    "resnet_cifar": ("plain110_cifar", "plain20_cifar", "plain32_cifar", "plain44_cifar", "plain56_cifar",
        "resnet110_cifar", "resnet110_stochastic_depth", "resnet1202_cifar", "resnet20_cifar", "resnet32_cifar",
        "resnet44_cifar", "resnet56_cifar"),
    "resnet_variants": ("bam_resnet18", "bam_resnet34", "bam_resnet50", "resnet101_blur", "resnet18_blur",
        "resnet200", "resnet34_blur", "resnet50_blur", "resnet50d", "resnetrs101", "resnetrs152", "resnetrs200",
        "resnetrs50", "resnext101_2x40d", "resnext101_32x4d", "resnext101_4x24d", "resnext101_8x14d",
        "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d", "seresnet50"),
    "retnet": ("retnet_base", "retnet_tiny"),
    "swin": ("swin_base_patch4_window7_224", "swin_small_patch4_window7_224", "swin_tiny_patch4_window7_224"),
    "tnn": ("tnn_base", "tnn_tiny"),
    "transformer": ("transformer_base", "transformer_lm_base", "transformer_lm_tiny", "transformer_tiny"),
    "vanillanet": ("vanillanet_10", "vanillanet_11", "vanillanet_12", "vanillanet_13", "vanillanet_13_x1_5",
        "vanillanet_13_x1_5_ada_pool", "vanillanet_5", "vanillanet_6", "vanillanet_7", "vanillanet_8",
        "vanillanet_9"),
    "vgg": ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "vgg_a_lrn",
        "vgg_c"),
    "vit": ("vit_base_patch16_224", "vit_base_patch32_224", "vit_large_patch16_224", "vit_small_patch16_224",
        "vit_tiny_patch16_224"),
}
_HOME = {name: f"archs.{file}" for file, names in MODEL_FILES.items() for name in names}

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_DEPLOY_FNS: dict[str, Callable] = {}


def _import_home(name: str) -> None:
  """Imports the file of a built-in name, which registers it (a no-op while that file is being imported)."""
  home = _HOME.get(name)
  if home is not None and home not in sys.modules:
    importlib.import_module(home)


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
    _import_home(key)  # a built-in name's own file registers it first, so a clash is caught here
    if key in _MODELS:
      raise ValueError(f"model {key!r} is registered twice")
    _MODELS[key] = f
    if to_deploy is not None:
      _DEPLOY_FNS[key] = to_deploy
    return f
  return decorate(fn) if fn is not None else decorate


def unregister_model(name: str) -> None:
  """Removes `name` (a model registered for one test or one session; the built-in names stay)."""
  if name in _HOME:
    raise ValueError(f"model {name!r} is built in and stays registered; accepted: a name registered by the caller")
  _check_name(name)
  del _MODELS[name]
  _DEPLOY_FNS.pop(name, None)


def list_models(pattern: str | None = None) -> list[str]:
  """Sorted registered names, filtered by an fnmatch pattern such as 'resnet*'."""
  names = sorted(set(_MODELS) | set(_HOME))
  return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def _check_name(name: str) -> None:
  _import_home(name)
  if name not in _MODELS:
    known = list_models()
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"see archs.list_models() ({len(known)} models)"
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
  import flax.linen as nn
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
