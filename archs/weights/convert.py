"""The generic PyTorch state_dict -> Flax variables converter, driven by a per-family layout table.

A layout is a list of rules; each maps the module part of a reference key (the key without its last
dotted name) to one of our module paths with a regular expression. The tensor itself is placed by what
our module holds, so the tables stay short:
- `weight` -> `kernel` (conv OIHW -> HWIO, grouped and depthwise too; conv1d OIW -> WIO; linear (out, in) -> (in, out)),
  or `embedding` as is, or `scale` (BatchNorm, LayerNorm, GroupNorm);
- `bias` -> `bias`; `running_mean` / `running_var` -> batch_stats `mean` / `var`; `num_batches_tracked` is dropped;
- any other name (a layer scale, a PReLU slope) -> the same name or the rule's rename, reshaped when only
  singleton axes differ.
A reference tensor no rule places, or one of our leaves nothing fills, is an error naming them.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping

import numpy as np

IGNORED_LEAVES = ("num_batches_tracked",)


class ConversionError(ValueError):
  """A state_dict that does not fill a model's variables exactly."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """`pattern` (re.fullmatch on the reference module path) -> `target` (our module path, `\\1` groups allowed).

  `target` may also be a function of the match (e.g. to count from 1). `leaves` renames reference leaf names (e.g. {'layer_scale': 'gamma'}); `transform(array) -> kernel`
  replaces the default placement of `weight` (e.g. a Linear that follows an NCHW flatten).
  """
  pattern: str
  target: str | Callable[[re.Match], str]
  leaves: Mapping[str, str] = dataclasses.field(default_factory=dict)
  transform: Callable[[np.ndarray], np.ndarray] | None = None


@dataclasses.dataclass(frozen=True)
class Layout:
  """How one reference family's state_dict maps onto one of our models.

  `model_kwargs`: the options our model needs to compute what the reference computes (e.g. torch's LRN).
  `head`: our classifier module paths and `head_pattern` the reference's classifier keys (regex on the full
  key), replaced when `num_classes` differs from the checkpoint's. `ignore`: regexes of reference keys that
  hold no parameter of the model (e.g. a buffer recomputed on the fly).
  """
  rules: tuple[Rule, ...]
  source: str = ""
  model_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  head: tuple[str, ...] = ()
  head_pattern: str = r"$^"
  ignore: tuple[str, ...] = ()
  input_size: int = 224
  init_input: Callable[[], Any] | None = None  # inputs for model.init when they are not images
  key_map: Callable[[str], str] | None = None  # renames keys before the rules see them (e.g. nn.LSTM's flat names)
  options_from: Callable[[Mapping[str, Any]], dict] | None = None  # model sizes read off the checkpoint
  prepare: Callable[[Mapping[str, Any]], dict] | None = None  # rewrites the state_dict first (splits a fused qkv)
  note: str = ""

  def prepared(self, state_dict: Mapping[str, Any]) -> Mapping[str, Any]:
    return self.prepare(state_dict) if self.prepare is not None else state_dict


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    path = f"{prefix}/{key}" if prefix else str(key)
    if isinstance(value, Mapping):
      out.update(flatten(value, path))
    else:
      out[path] = value
  return out


def unflatten(flat: Mapping[str, Any]) -> dict:
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    *parents, leaf = path.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return tree


def numbered(template: str, *offsets: int) -> Callable[[re.Match], str]:
  """A rule target that shifts the matched numbers: numbered('stage{}_block{}', 1, 1) counts both from 1."""
  return lambda m: template.format(*(int(g) + o for g, o in zip(m.groups(), offsets)))


def flatten_chw(channels: int) -> Callable:
  """A Linear after torch's NCHW flatten, for our NHWC flatten: (out, C*H*W) -> (H*W*C, out)."""
  def transform(w):
    out, n = w.shape
    hw = int(round((n // channels) ** 0.5))
    return w.reshape(out, channels, hw, hw).transpose(2, 3, 1, 0).reshape(n, out)
  return transform


def split_fused(state_dict: Mapping[str, Any], fused: str, names: tuple[str, ...]) -> dict:
  """Every `<module>.<fused>.weight/bias` (re.fullmatch of `<module>.<fused>`) cut along its output axis into equal
  parts `<module>.<name>.weight/bias` (timm's and torchvision's fused attention input projection `qkv`)."""
  out = {}
  for key, value in state_dict.items():
    module, _, leaf = key.rpartition(".")
    head, _, last = module.rpartition(".")
    if last != fused:
      out[key] = value
      continue
    for name, part in zip(names, np.split(np.asarray(value), len(names), axis=0)):
      out[f"{head}.{name}.{leaf}" if head else f"{name}.{leaf}"] = part
  return out


def _place_weight(w: np.ndarray, our_leaves: set[str]) -> tuple[str, np.ndarray]:
  if "kernel" in our_leaves:
    if w.ndim == 4:
      return "kernel", w.transpose(2, 3, 1, 0)
    if w.ndim == 3:
      return "kernel", w.transpose(2, 1, 0)
    if w.ndim == 2:
      return "kernel", w.T
  if "embedding" in our_leaves:
    return "embedding", w
  if "scale" in our_leaves:
    return "scale", w
  return "weight", w


def _destination(rule: Rule, module: str, leaf: str, w: np.ndarray, ours: dict[str, set[str]]):
  """(collection/path, array) for one reference tensor matched by `rule` to our module `module` ('' = the top)."""
  leaves = ours.get(module, set())
  at = lambda collection, name: "/".join(p for p in (collection, module, name) if p)
  if leaf in rule.leaves:
    return at("params", rule.leaves[leaf]), w
  if leaf == "weight":
    if rule.transform is not None:
      return at("params", "kernel"), rule.transform(w)
    name, w = _place_weight(w, leaves)
    return at("params", name), w
  if leaf in ("running_mean", "running_var"):
    return at("batch_stats", leaf[len("running_"):]), w
  return at("params", leaf), w


def unmatched_keys(state_dict: Mapping[str, Any], layout: Layout) -> list[str]:
  """The reference keys no rule of `layout` places (a quick test of whether a checkpoint has this layout)."""
  rules = [re.compile(r.pattern) for r in layout.rules]
  ignore = [re.compile(p) for p in layout.ignore]
  out = []
  for key in layout.prepared(state_dict):
    module, _, leaf = (layout.key_map(key) if layout.key_map else key).rpartition(".")
    if leaf not in IGNORED_LEAVES and not any(p.fullmatch(key) for p in ignore) and \
        not any(r.fullmatch(module) for r in rules):
      out.append(key)
  return out


def convert_state_dict(state_dict: Mapping[str, np.ndarray], target: Mapping, layout: Layout,
                       skip_head: bool = False) -> dict:
  """Fills `target` (a variables tree of shapes, e.g. from jax.eval_shape) from `state_dict`.

  With `skip_head`, the reference's classifier keys are dropped and our head leaves are left out of the
  result (the caller initialises them). Returns a variables tree of float32 numpy arrays.
  """
  shapes = {p: tuple(v.shape) for p, v in flatten(target).items()}
  state_dict = layout.prepared(state_dict)
  ours: dict[str, set[str]] = {}
  for path in shapes:
    _, *module, leaf = path.split("/")
    ours.setdefault("/".join(module), set()).add(leaf)
  head = tuple(f"{c}/{h}/" for h in layout.head for c in ("params", "batch_stats")) if skip_head else ()
  compiled = [(re.compile(r.pattern), r) for r in layout.rules]
  ignore = [re.compile(p) for p in layout.ignore]

  out, unmatched, unused, bad_shape, sources = {}, [], [], [], {}
  for key, value in state_dict.items():
    module, _, leaf = (layout.key_map(key) if layout.key_map else key).rpartition(".")
    if leaf in IGNORED_LEAVES or any(p.fullmatch(key) for p in ignore):
      continue
    if skip_head and re.fullmatch(layout.head_pattern, key):
      continue
    rule_match = next(((r, m) for c, r in compiled if (m := c.fullmatch(module))), None)
    if rule_match is None:
      unmatched.append(key)
      continue
    rule, match = rule_match
    path, array = _destination(rule, match.expand(rule.target) if isinstance(rule.target, str) else rule.target(match), leaf, np.asarray(value, np.float32), ours)
    if path not in shapes:
      unused.append(f"{key} -> {path}")
      continue
    if path in sources:
      raise ConversionError(f"{key} and {sources[path]} both map to {path}")
    if array.shape != shapes[path]:
      if array.size != int(np.prod(shapes[path])):
        bad_shape.append(f"{key} {tuple(value.shape)} -> {path} {shapes[path]}")
        continue
      array = array.reshape(shapes[path])  # only singleton axes differ (a layer scale of shape (C, 1, 1))
    sources[path] = key
    out[path] = array
  unset = [p for p in shapes if p not in out and not p.startswith(head)]
  problems = [(f"{len(unmatched)} reference tensors no rule maps", unmatched),
              (f"{len(unused)} reference tensors map to no leaf of ours", unused),
              (f"{len(bad_shape)} shape mismatches", bad_shape),
              (f"{len(unset)} of our leaves left unset", unset)]
  problems = [(what, items) for what, items in problems if items]
  if problems:
    raise ConversionError(f"{layout.source or 'state_dict'}: " + "; ".join(
        f"{what}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}" for what, items in problems))
  return unflatten(out)
