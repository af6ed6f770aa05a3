"""Evaluate a run and export its model: `python -m train.evaluate --workdir W [--export FILE.npz [--deploy]]`.

Restores the newest checkpoint of W read-only (a training may run beside), evaluates its evaluation variables (the
EMA ones when the run keeps them) on the config's eval split on one device and prints the metrics. `--export` writes
those variables (`--deploy`: the re-parameterised deploy form, for models that have one) as an .npz that
`archs.load_variables` reads without the training program, and FILE.json beside it with the model's name and
create_model arguments:

  spec = json.load(open("model.json")); model = archs.create_model(spec["model"], **spec["kwargs"])
  logits = model.apply(archs.load_variables("model.npz"), images)
"""
from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp

import archs
from archs.registry import model_fields
from train import analyze_run, data, errors, step as step_lib


def evaluate(run: analyze_run.Run) -> dict:
  """The run's eval metrics on its eval split, one device (padding masked, every example counted once)."""
  p_eval = step_lib.make_eval_step(run.task, run.model, devices=jax.local_devices()[:1])
  batch_size = run.config.eval_batch_size or run.config.batch_size
  sums = None
  for batch in data.eval_batches(run.eval_source, batch_size, data.num_eval_batches(len(run.eval_source), 1,
                                                                                     batch_size), 1):
    metrics = p_eval(run.variables, batch, run.scheduled_args)
    sums = metrics if sums is None else jax.tree.map(jnp.add, sums, metrics)
  return run.task.summarize(jax.device_get(sums))


def model_kwargs(run: analyze_run.Run) -> dict:
  """The create_model arguments that differ from the registered defaults (dtype left to the user)."""
  default = archs.create_model(run.config.model)
  kwargs = {f: getattr(run.model, f) for f in sorted(model_fields(run.model))
            if f != "dtype" and getattr(run.model, f) != getattr(default, f)}
  unsaved = [f for f, v in kwargs.items() if not isinstance(v, (bool, int, float, str, list, tuple, type(None)))]
  if unsaved:
    raise errors.UserError(f"cannot write the model's {', '.join(unsaved)} to JSON; accepted: runs whose model "
                           f"arguments are numbers, strings or lists")
  return kwargs


def export(run: analyze_run.Run, path: str, deploy: bool = False) -> dict:
  """Writes the run's variables to `path` (.npz) and its model spec to the .json beside it; returns the spec."""
  variables, kwargs = jax.device_get(run.variables), model_kwargs(run)
  if deploy:
    to_deploy = archs.get_to_deploy(run.config.model)
    if to_deploy is None:
      raise errors.UserError(f"--deploy: model {run.config.model!r} has no deploy form; accepted: "
                             f"{', '.join(m for m in archs.list_models() if archs.get_to_deploy(m))}")
    variables, kwargs = to_deploy(variables), {**kwargs, "deploy": True}
  archs.save_variables(path, variables, info=data.preprocessing_record(run.config))  # pretrained_info reads it
  spec = {"model": run.config.model, "kwargs": kwargs, "step": run.step}
  with open(path.removesuffix(".npz") + ".json", "w") as f:
    json.dump(spec, f, indent=2)
  return spec


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--export", metavar="FILE.npz", help="write the variables (and FILE.json) for archs")
  parser.add_argument("--deploy", action="store_true", help="export the deploy form (VanillaNet)")
  a = parser.parse_args(argv)
  try:
    if a.export and not a.export.endswith(".npz"):
      raise errors.UserError(f"--export {a.export!r}; accepted: a path ending in .npz")
    run = analyze_run.load(a.workdir)
    print(f"step {run.step} of {a.workdir}: eval " + ", ".join(f"{k} {v:.4f}" for k, v in evaluate(run).items()))
    if a.export:
      export(run, a.export, a.deploy)
      print(f"exported to {a.export} and {a.export.removesuffix('.npz')}.json")
  except errors.UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return errors.EXIT_USER_ERROR
  return 0


if __name__ == "__main__":
  sys.exit(main())
