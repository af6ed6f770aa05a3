"""Every value of the config and the workdir checked in one place, before anything is created on disk.

A bad value is a `UserError` of one line naming the key, the value and what is accepted. Names (model,
optimizer, ...) are checked against their registries by the trainer; this module checks types and ranges.
"""
from __future__ import annotations

import json
import math
import os

from train import errors

INT, NUMBER, BOOL = "an integer", "a number", "true or false"

# key: (kind, lower bound, lower inclusive, upper bound, upper inclusive); None = unbounded.
RANGES = {
    "batch_size": (INT, 1, True, None, False),
    "eval_batch_size": (INT, 0, True, None, False),                # 0 = batch_size
    "num_epochs": (NUMBER, 0, False, None, False),
    "seed": (INT, 0, True, 2**32 - 1, True),
    "steps_per_call": (INT, 1, True, None, False),
    "num_devices": (INT, 0, True, None, False),                    # 0 = all local devices
    "image_size": (INT, 1, True, None, False),
    "image_channels": (INT, 1, True, None, False),
    "num_classes": (INT, 0, True, None, False),                    # 0 = from the dataset
    "synthetic_examples": (INT, 1, True, None, False),
    "learning_rate": (NUMBER, 0, True, None, False),
    "weight_decay": (NUMBER, 0, True, None, False),
    "l1": (NUMBER, 0, True, None, False),
    "grad_clip_norm": (NUMBER, 0, True, None, False),              # 0 = off
    "ema_decay": (NUMBER, 0, True, 1, False),                      # 0 = off
    "label_smoothing": (NUMBER, 0, True, 1, False),
    "aux_loss_weight": (NUMBER, 0, True, None, False),
    "log_every_epochs": (NUMBER, 0, True, None, False),            # 0 = log_every_steps
    "log_every_steps": (INT, 0, True, None, False),
    "checkpoint_every_epochs": (NUMBER, 0, True, None, False),     # 0 = checkpoint_every_steps
    "checkpoint_every_steps": (INT, 0, True, None, False),         # both 0 = at each epoch's end
    "keep_checkpoints": (INT, 1, True, None, False),               # 0 would keep nothing to resume from
    "data_workers": (INT, -1, True, None, False),                 # -1 = from the CPU count
    "prefetch_calls": (INT, 0, True, None, False),
    "aug.pad": (INT, 0, True, None, False),
    "aug.crop_pct": (NUMBER, 0, True, 1, True),                    # 0 = the model's (or 1 for CIFAR/MNIST)
    "aug.randaugment_n": (INT, 0, True, None, False),
    "aug.randaugment_m": (NUMBER, 0, True, 10, True),              # timm's scale; larger is clipped to 10
    "aug.randaugment_mstd": (NUMBER, 0, True, None, False),
    "aug.erasing": (NUMBER, 0, True, 1, True),
    "aug.mixup": (NUMBER, 0, True, None, False),                   # 0 = off
    "aug.cutmix": (NUMBER, 0, True, None, False),                  # 0 = off
    "aug.mix_prob": (NUMBER, 0, True, 1, True),
    "aug.switch_prob": (NUMBER, 0, True, 1, True),
    "optimizer.momentum": (NUMBER, 0, True, 1, False),
    "optimizer.b1": (NUMBER, 0, True, 1, False),
    "optimizer.b2": (NUMBER, 0, True, 1, False),
    "optimizer.eps": (NUMBER, 0, False, None, False),
    "optimizer.decay": (NUMBER, 0, True, 1, False),
    "optimizer.initial_accumulator_value": (NUMBER, 0, True, None, False),
    "schedule.warmup_epochs": (NUMBER, 0, True, None, False),
    "schedule.min_lr": (NUMBER, 0, True, None, False),
    "schedule.decay_factor": (NUMBER, 0, False, None, False),
}
BOOLS = ("augment", "distributed", "export_deploy", "aug.flip")


def _get(config, dotted: str):
  node = config
  for key in dotted.split("."):
    if key not in node:
      return None
    node = node[key]
  return node


def _interval(low, low_in, high, high_in) -> str:
  if high is None:
    return f"{'>=' if low_in else '>'} {low}"
  return f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def check_values(config) -> None:
  for key, (kind, low, low_in, high, high_in) in RANGES.items():
    value = _get(config, key)
    if value is None:
      continue
    accepted = f"{kind} {_interval(low, low_in, high, high_in)}"
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (kind == INT and not isinstance(value, int)) or not math.isfinite(value):
      raise errors.UserError(f"{key}={value!r}; accepted: {accepted}")
    if value < low or (value == low and not low_in) or (
        high is not None and (value > high or (value == high and not high_in))):
      raise errors.UserError(f"{key}={value!r}; accepted: {accepted}")
  for key in BOOLS:
    value = _get(config, key)
    if value is not None and not isinstance(value, bool):
      raise errors.UserError(f"{key}={value!r}; accepted: {BOOL}")
  boundaries = list(_get(config, "schedule.boundaries_epochs") or ())
  if any(b < 0 for b in boundaries) or boundaries != sorted(boundaries):
    raise errors.UserError(f"schedule.boundaries_epochs={tuple(boundaries)}; accepted: increasing epochs >= 0")


def check_workdir(workdir: str) -> None:
  """A directory we can create or write into; checked before anything is written."""
  if not isinstance(workdir, str) or not workdir.strip():
    raise errors.UserError(f"--workdir={workdir!r}; accepted: a directory path")
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise errors.UserError(f"--workdir={workdir!r} is a file; accepted: a directory (existing or new)")
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise errors.UserError(f"--workdir={workdir!r} lies under the file {existing!r}; accepted: a directory path")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise errors.UserError(f"--workdir={workdir!r}: {existing!r} is not writable; accepted: a writable directory")


# Keys a resumed run may change: they extend the run or change how it is logged, saved or spread over devices.
MAY_CHANGE_ON_RESUME = ("num_epochs", "log_every_epochs", "log_every_steps", "checkpoint_every_epochs",
                        "checkpoint_every_steps", "keep_checkpoints", "num_devices", "steps_per_call", "eval_batch_size",
                        "data_dir", "export_deploy", "distributed",
                        "data_workers", "prefetch_calls")  # the batches do not depend on these (tested)
CONFIG_FILE = "config.json"


def _flat(tree: dict, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict) and key not in ("model_kwargs", "task_kwargs", "scheduled_args"):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def _as_json(config) -> dict:
  return json.loads(json.dumps(config.to_dict(), sort_keys=True, default=str))


def check_resume(config, workdir: str, log=print) -> None:
  """A workdir resumed with another config stops in one line listing the keys that differ.

  The keys of MAY_CHANGE_ON_RESUME are accepted and reported. A workdir from before config.json existed resumes.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  with open(path) as f:
    saved = _flat(json.load(f))
  current = _flat(_as_json(config))
  differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
  refused = [k for k in differ if k not in MAY_CHANGE_ON_RESUME]
  if refused:
    listed = ", ".join(f"{k} {saved.get(k)!r} -> {current.get(k)!r}" for k in refused)
    raise errors.UserError(f"{workdir} holds a run of another config ({listed}); rerun with the saved values "
                           f"(see {path}) or use another --workdir")
  for k in differ:
    log(f"resuming with {k} {saved.get(k)!r} -> {current.get(k)!r}")


def write_config(config, workdir: str) -> None:
  path = os.path.join(workdir, CONFIG_FILE)
  with open(path + ".tmp", "w") as f:
    json.dump(_as_json(config), f, indent=2)
  os.replace(path + ".tmp", path)
