"""A finished (or running) run directory as the analysis commands need it: config, model, variables, data.

`load(workdir, step=None)` rebuilds the model exactly as the trainer did from WORKDIR/config.json and restores the
newest intact checkpoint, or the one of `step` (host arrays; the checksums are verified). The initial parameters
are those of the run's seed (`init_variables`). Loss functions for the Hessian and the landscapes apply the model in TRAIN mode
with the statistics of the analysed batch (Ghorbani et al. 2019, PyHessian, and for landscapes because moving
the weights invalidates the running statistics); dropout draws from a fixed key, so each is one deterministic
function of the parameters. Scheduled hyperparameters (VanillaNet's act_lambda) take their value at the
checkpoint's step.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import archs
from train import checkpoint, data, defaults, errors, optim, scheduled_args, tasks
from train import step as step_lib
from train.trainer import DTYPES


@dataclasses.dataclass
class Run:
  workdir: str
  config: Any
  task: Any
  model: Any
  variables: dict           # {'params', **model_state} of the newest checkpoint
  scheduled_args: dict      # scheduled keyword arguments at that step
  step: int
  train_source: Any
  eval_source: Any
  abstract: Any = None

  def init_variables(self) -> dict:
    """The variables the run started from (same seed, same initializer)."""
    tx, _ = optim.make_optimizer(self.config, data.steps_per_epoch(self.train_source, self.config.batch_size))
    state = step_lib.init_state(self.task, self.model, tx, _example(self.train_source), self.scheduled_args,
                                self.config.seed, False)
    return jax.device_get({"params": state.params, **state.model_state})


def _example(source):
  return jax.tree.map(lambda x: np.asarray(x)[None], source[0])


def _merge(config, saved: dict) -> None:
  for key, value in saved.items():
    if isinstance(value, dict) and key in config and isinstance(config[key], ml_collections.ConfigDict):
      _merge(config[key], value)
    else:
      config[key] = value


def read_config(workdir: str):
  """WORKDIR/config.json over today's defaults: a run from before a setting existed gets its default."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise errors.UserError(f"--workdir {workdir} has no config.json; accepted: the workdir of a train.main run")
  with open(path) as f:
    saved = json.load(f)
  config = defaults.base_config()
  with config.unlocked():
    _merge(config, saved)
  return config


def load(workdir: str, step: int | None = None) -> Run:
  """The run at its newest intact checkpoint, or at checkpoint `step`."""
  config = read_config(workdir)
  task = tasks.create_task(config)
  train_source, eval_source, info = task.datasets(config)
  model_kwargs = {**task.model_overrides(config, info), **dict(config.model_kwargs), "dtype": DTYPES[config.dtype]}
  model = archs.create_model(config.model, **model_kwargs)
  steps_per_epoch = data.steps_per_epoch(train_source, config.batch_size)
  tx, _ = optim.make_optimizer(config, steps_per_epoch)
  schedules = scheduled_args.ScheduledArgs(config.scheduled_args, steps_per_epoch)
  abstract = step_lib.abstract_state(task, model, tx, _example(train_source), schedules.at(0), config.seed,
                                     config.ema_decay > 0)
  ckpts = checkpoint.Checkpoints(workdir, config.keep_checkpoints, read_only=True)  # training may run beside
  try:
    if ckpts.latest_step() is None:
      raise errors.UserError(f"--workdir {workdir} has no checkpoint yet; accepted: a run that saved one")
    state = ckpts.restore(abstract) if step is None else ckpts.restore_step(step, abstract)
  finally:
    ckpts.close()
  state = jax.device_get(state)
  step = int(state.step)
  return Run(workdir, config, task, model, state.eval_variables(), schedules.at(step), step, train_source,
             eval_source, abstract)


def batch(source, num: int) -> dict:
  """The first `num` examples of a source as one batch (all of them if it has fewer)."""
  num = min(num, len(source))
  examples = [source[i] for i in range(num)]
  return {k: np.stack([np.asarray(e[k]) for e in examples]) for k in examples[0]}


def metrics_fn(run: Run, model_state: dict, train: bool = True):
  """(params, batch) -> {'loss', 'accuracy', ...} (train mode: batch statistics; see the module doc)."""
  rngs = {"dropout": jax.random.key(0)}
  hp = {k: jnp.asarray(v) for k, v in run.scheduled_args.items()}

  def fn(params, batch_):
    loss, (metrics, _) = run.task.loss_fn(run.model, {"params": params, **model_state}, batch_, rngs, train, hp)
    out = {k: s / c for k, (s, c) in metrics.items()}
    out["loss"] = loss
    return out
  return fn


def loss_fn(run: Run, model_state: dict):
  fn = metrics_fn(run, model_state)
  return lambda params, batch_: fn(params, batch_)["loss"]


def split(variables: dict) -> tuple[dict, dict]:
  """(params, the other collections)."""
  return variables["params"], {k: v for k, v in variables.items() if k != "params"}
