"""Joining a multi-process run: `jax.distributed.initialize` with its settings from flags or the environment.

Settings: coordinator address (host:port of process 0), number of processes, and this process's id, from the
`--coordinator_address/--num_processes/--process_id` flags or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
JAX_PROCESS_ID. All three, or none (a single process; or `--config.distributed=True` on a TPU pod or a SLURM
cluster, where JAX finds them itself). CPU processes talk through gloo.
"""
from __future__ import annotations

import os

from train import errors

ENV = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
       "process_id": "JAX_PROCESS_ID"}


def settings(coordinator_address=None, num_processes=None, process_id=None) -> dict:
  """The three settings, flags first, then the environment; {} when none is given; a UserError when incomplete."""
  given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
  found = {k: v if v is not None else os.environ.get(ENV[k]) for k, v in given.items()}
  found = {k: v for k, v in found.items() if v not in (None, "")}
  if not found:
    return {}
  missing = [f"--{k} (or {ENV[k]})" for k in given if k not in found]
  if missing:
    raise errors.UserError(f"a multi-process run needs {', '.join(missing)} as well; accepted: all of "
                           f"--coordinator_address, --num_processes, --process_id, or none")
  try:
    count, index = int(found["num_processes"]), int(found["process_id"])
  except ValueError:
    raise errors.UserError(f"num_processes={found['num_processes']!r}, process_id={found['process_id']!r}; "
                           f"accepted: integers") from None
  if count < 1 or not 0 <= index < count:
    raise errors.UserError(f"num_processes={count}, process_id={index}; accepted: num_processes >= 1 and "
                           f"0 <= process_id < num_processes")
  return {"coordinator_address": found["coordinator_address"], "num_processes": count, "process_id": index}


def initialize(config_distributed: bool, **flags) -> None:
  """Joins the run described by flags/environment, or lets JAX detect a cluster when config.distributed is set."""
  import jax
  found = settings(**flags)
  if not found and not config_distributed:
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes only; accelerators ignore it
  try:
    jax.distributed.initialize(**found)
  except (RuntimeError, ValueError) as e:
    raise errors.UserError(f"cannot join the multi-process run ({' '.join(str(e).split())[:200]}); accepted: "
                           f"--coordinator_address HOST:PORT --num_processes N --process_id I, or a TPU pod / "
                           f"SLURM cluster with --config.distributed=True") from None
