"""SIGTERM (preemption) and Ctrl-C stop the run between device calls, after a checkpoint, never inside XLA.

While training, the handlers only record the signal; the loop checks `requested` after each device call, saves,
closes its writers and raises `Interrupted`, and `train.main` exits with the shell's status for that signal
(130 for SIGINT, 143 for SIGTERM). A second Ctrl-C while the checkpoint is written stops at once.
"""
from __future__ import annotations

import signal
import threading


class Interrupted(Exception):
  def __init__(self, signum: int, step: int):
    self.signum, self.step = signum, step
    self.exit_status = 128 + signum
    super().__init__(f"interrupted by {signal.Signals(signum).name} at step {step}; checkpoint saved; "
                     f"rerun the same command to resume")


class StopRequest:
  def __init__(self):
    self.signum, self.previous = None, {}

  @property
  def requested(self) -> bool:
    return self.signum is not None

  def _handle(self, signum, frame):
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # the second Ctrl-C: the user does not want to wait for the save
    self.signum = signum

  def restore(self) -> None:
    for s, handler in self.previous.items():
      signal.signal(s, handler)
    self.previous = {}


def install() -> StopRequest:
  """A StopRequest set by SIGINT/SIGTERM from now on; `restore()` puts the previous handlers back."""
  request = StopRequest()
  if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
    request.previous = {s: signal.signal(s, request._handle) for s in (signal.SIGINT, signal.SIGTERM)}
  return request
