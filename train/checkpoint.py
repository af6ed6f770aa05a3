"""Orbax checkpoints of the single replicated TrainState in WORKDIR/checkpoints.

Rules: saves every `checkpoint_every_epochs` or `checkpoint_every_steps` (at call boundaries) and at the end; keeps the newest
`keep_checkpoints`; a run restarts automatically from the newest checkpoint in its workdir. Orbax writes each
step into a temporary directory and renames it when complete, so a kill during a save leaves the last good
checkpoint intact. Saves are synchronous: the next step donates (deletes) the state's buffers.

Damage: each step directory also holds `checksums.json` (path, shape, dtype and a hash of every array). It is
written beside the directories before orbax saves (`pending_checksums_<step>.json`) and moved into the step
directory after, so a kill just after orbax's rename leaves the manifest pending, never missing: the step is
then restored with it. On restore, a step whose files cannot be read or whose arrays do not match
their hashes (a flipped byte) is moved aside to `<step>.corrupt` (never deleted) and the previous step is tried.
Temporary directories of an interrupted save are removed on start: they never held a finished checkpoint.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp

from train import errors

CHECKSUMS = "checksums.json"
PENDING = "pending_checksums_{}.json"  # the manifest of a save in progress, beside the step directories


def _leaf_bytes(x) -> np.ndarray:
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return np.ascontiguousarray(np.asarray(x))


def describe(tree) -> dict:
  """{path: [shape, dtype]} of every array of `tree` (concrete or abstract)."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(p): [list(x.shape), str(x.dtype)] for p, x in leaves}


def checksums(tree) -> dict:
  leaves, _ = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))
  return {jax.tree_util.keystr(p): hashlib.blake2b(_leaf_bytes(x).tobytes(), digest_size=16).hexdigest()
          for p, x in leaves}


def _write_atomically(path: str, manifest: dict) -> None:
  with open(path + ".tmp", "w") as f:
    json.dump(manifest, f)
  os.replace(path + ".tmp", path)  # a kill leaves no half-written manifest


class DamagedCheckpoint(Exception):
  """A step directory that cannot be restored as written; the message says why, in one line."""


class Checkpoints:
  def __init__(self, workdir: str, keep: int, log=print, read_only: bool = False):
    """`read_only`: a reader beside a running training (analysis) changes nothing on disk: it neither removes
    temporary directories (they may be a save in progress) nor moves damaged steps aside (it skips them)."""
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.keep, self.log, self.read_only = keep, log, read_only
    if jax.process_index() == 0 and not read_only:
      for tmp in sorted(glob.glob(os.path.join(self.directory, "*.orbax-checkpoint-tmp*"))):
        shutil.rmtree(tmp, ignore_errors=True)
        self.log(f"removed {tmp}: an unfinished save of an interrupted run")
      for pending in glob.glob(os.path.join(self.directory, PENDING.format("*"))):
        step = os.path.basename(pending).removeprefix(PENDING.format("")[:-5]).removesuffix(".json")
        step_dir = os.path.join(self.directory, step)
        if os.path.isdir(step_dir):  # killed after orbax's rename: the step is whole, its manifest goes in
          os.replace(pending, os.path.join(step_dir, CHECKSUMS))
        else:  # killed before it: orbax's temporary directory was removed above
          os.remove(pending)
    self.manager = self._open()

  def _open(self):
    options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, enable_async_checkpointing=False,
                                           create=not self.read_only, read_only=self.read_only)
    return ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state) -> None:
    step = int(state.step)
    if step in self.manager.all_steps():
      return
    state = jax.device_get(state)  # host arrays carry no device layout: they restore on any device count
    needed = sum(x.nbytes for x in jax.tree.leaves(state))
    if shutil.disk_usage(self.directory).free < needed:
      raise self._disk_full(step, needed)
    pending = os.path.join(self.directory, PENDING.format(step))
    if jax.process_index() == 0:
      _write_atomically(pending, {"shapes": describe(state), "checksums": checksums(state)})
    try:
      self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self.manager.wait_until_finished()
    except Exception:  # orbax reports a full disk as assorted errors (e.g. "Event loop is closed")
      if shutil.disk_usage(self.directory).free < needed:
        raise self._disk_full(step, needed) from None
      raise
    if jax.process_index() == 0:
      os.replace(pending, os.path.join(self.directory, str(step), CHECKSUMS))

  def _disk_full(self, step: int, needed: int) -> errors.UserError:
    free = shutil.disk_usage(self.directory).free
    return errors.UserError(f"no space to save step {step} in {self.directory}: it needs about "
                            f"{needed / 2**20:.1f} MiB and {free / 2**20:.1f} MiB are free; the previous checkpoint "
                            f"is intact: free some space and rerun the same command to resume")

  def restore(self, abstract_state):
    """The newest step that restores intact; damaged steps are moved aside with one line each."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        return self._restore_verified(step, abstract_state)
      except DamagedCheckpoint as e:
        if self.read_only:
          self.log(f"checkpoint step {step} is damaged ({e}); trying the previous one")
          continue
        aside = self._move_aside(step)
        self.log(f"checkpoint step {step} is damaged ({e}); moved to {aside}; trying the previous one")
    raise errors.UserError(f"no checkpoint in {self.directory} can be restored (damaged ones were moved to "
                           f"*.corrupt); move that directory away to start afresh, or use another --workdir")

  def restore_step(self, step: int, abstract_state):
    """Exactly checkpoint `step`, an older one than the newest (analysis); a damaged one is an error."""
    steps = sorted(self.manager.all_steps())
    if step not in steps:
      raise errors.UserError(f"--step {step}: no checkpoint of that step in {self.directory}; accepted: "
                             f"{', '.join(map(str, steps)) or 'none saved yet'}")
    try:
      return self._restore_verified(step, abstract_state)
    except DamagedCheckpoint as e:
      raise errors.UserError(f"--step {step}: that checkpoint in {self.directory} is damaged ({e}); accepted: "
                             f"another of {', '.join(map(str, steps))}") from None

  def _restore_verified(self, step: int, abstract_state):
    path = os.path.join(self.directory, str(step), CHECKSUMS)
    try:
      with open(path) as f:
        manifest = json.load(f)
      expected = manifest["checksums"]
    except FileNotFoundError:
      raise DamagedCheckpoint(f"{CHECKSUMS} is missing") from None
    except (ValueError, KeyError, TypeError) as e:
      raise DamagedCheckpoint(f"{CHECKSUMS} is unreadable: {e}") from None
    wanted = describe(abstract_state)
    if manifest.get("shapes") != wanted:
      differ = sorted(k for k in set(wanted) | set(manifest.get("shapes", {}))
                      if wanted.get(k) != manifest.get("shapes", {}).get(k))
      raise errors.UserError(f"the checkpoint at step {step} in {self.directory} holds another model or optimizer "
                             f"state ({len(differ)} of its arrays differ from this run's, e.g. {differ[0]}); use another --workdir")
    try:
      state = self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
    except Exception as e:  # noqa: BLE001 -- the structure matches (checked above), so any failure is damage
      raise DamagedCheckpoint(f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}") from None
    bad = [k for k, v in checksums(state).items() if expected.get(k) != v]
    if bad:
      raise DamagedCheckpoint(f"{len(bad)} arrays do not match their checksums, e.g. {bad[0]}")
    return state

  def _move_aside(self, step: int) -> str:
    source = os.path.join(self.directory, str(step))
    target, n = source + ".corrupt", 1
    while os.path.exists(target):
      target, n = f"{source}.corrupt{n}", n + 1
    if jax.process_index() == 0:
      os.rename(source, target)
    self.manager.close()
    self.manager = self._open()
    return target

  def close(self):
    self.manager.close()


def save_variables(path: str, variables) -> None:
  """One-off save of a variables tree (the deploy form) with orbax."""
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(os.path.abspath(path), variables, force=True)

