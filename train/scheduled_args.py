"""Scheduled arguments: keyword arguments of the model's `__call__` whose value follows a schedule of the step.

Values are computed on the host from the step and passed into the compiled step.

`config.scheduled_args` is a dict of named schedules, e.g.
  {'act_lambda': {'kind': 'deep_training', 'decay_epochs': 100, 'shape': 'linear', 'per_step': False}}.
For a call of K steps the loop passes each name as a float32 array of shape (K,), scanned with the batches,
and the task hands the current value to the model as a keyword argument of `__call__`. Values are data, never
constants of the compiled program, so a changing value never recompiles.

Kinds:
- deep_training: VanillaNet's lambda (main.py: `act_learn = epoch / decay_epochs`, constant within an epoch):
  linear lam(e) = e / decay_epochs, cosine lam(e) = (1 - cos(pi e / decay_epochs)) / 2, and 1 from
  e >= decay_epochs. per_step=True uses the fractional epoch step / steps_per_epoch instead of the integer epoch.
- constant: `value` at every step.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from train import errors

KINDS = ("deep_training", "constant")
SHAPES = ("linear", "cosine")


def deep_training_lambda(epoch: float, decay_epochs: float, shape: str = "linear") -> float:
  errors.check_name("deep_training shape", shape, SHAPES)
  if decay_epochs <= 0 or epoch >= decay_epochs:
    return 1.0
  t = epoch / decay_epochs
  return t if shape == "linear" else 0.5 * (1.0 - math.cos(math.pi * t))


def make_schedule(name: str, spec, steps_per_epoch: int) -> Callable[[int], float]:
  kind = spec.get("kind")
  errors.check_name(f"kind of scheduled argument {name!r}:", kind, KINDS)
  if kind == "constant":
    value = float(spec.get("value", 0.0))
    return lambda step: value
  decay, shape, per_step = spec.get("decay_epochs", 100), spec.get("shape", "linear"), spec.get("per_step", False)
  errors.check_name(f"shape of scheduled argument {name!r}:", shape, SHAPES)

  def schedule(step: int) -> float:
    epoch = step / steps_per_epoch if per_step else step // steps_per_epoch
    return deep_training_lambda(epoch, decay, shape)
  return schedule


class ScheduledArgs:
  """All scheduled arguments of a run; `values(start, k)` gives the arrays for steps start..start+k-1."""

  def __init__(self, specs, steps_per_epoch: int):
    self.schedules = {name: make_schedule(name, spec, steps_per_epoch) for name, spec in dict(specs).items()}

  def values(self, start: int, k: int) -> dict[str, np.ndarray]:
    return {n: np.array([f(start + i) for i in range(k)], np.float32) for n, f in self.schedules.items()}

  def at(self, step: int) -> dict[str, np.ndarray]:
    """Scalar values at `step` (evaluation uses the value at the current step)."""
    return {n: np.float32(f(step)) for n, f in self.schedules.items()}
