"""Orbax checkpoints of the single replicated TrainState in WORKDIR/checkpoints.

Rules: saves every `checkpoint_every_steps` (at call boundaries) and at the end; keeps the newest
`keep_checkpoints`; a run restarts automatically from the newest checkpoint in its workdir. Orbax writes each
step into a temporary directory and renames it when complete, so a kill during a save leaves the last good
checkpoint intact. Saves are synchronous: the next step donates (deletes) the state's buffers.
"""
from __future__ import annotations

import os

import orbax.checkpoint as ocp


class Checkpoints:
  def __init__(self, workdir: str, keep: int):
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=False, create=True)
    self.manager = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")), options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state) -> None:
    step = int(state.step)
    if step not in self.manager.all_steps():
      self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self.manager.wait_until_finished()

  def restore(self, abstract_state, step: int | None = None):
    step = self.manager.latest_step() if step is None else step
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

  def close(self):
    self.manager.close()


def save_variables(path: str, variables) -> None:
  """One-off save of a variables tree (the deploy form) with orbax."""
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(os.path.abspath(path), variables, force=True)


def load_variables(path: str, abstract=None):
  with ocp.StandardCheckpointer() as ckptr:
    return ckptr.restore(os.path.abspath(path), abstract)
