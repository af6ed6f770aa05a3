"""Run logs: DIR/metrics.jsonl (one JSON object per event), TensorBoard events, a progress line on stderr.

Only process 0 writes. After a resume, events of metrics.jsonl past the restored step (and the summary of a
finished run that is restarted) are dropped, so a restarted run never duplicates an event.
"""
from __future__ import annotations

import json
import os
import sys
import time


class Logger:
  def __init__(self, workdir: str, restored_step: int, enabled: bool = True):
    self.enabled = enabled
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.writer = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._truncate(restored_step)
    from tensorboardX import SummaryWriter
    self.writer = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def _truncate(self, restored_step: int) -> None:
    if not os.path.exists(self.path):
      return
    events = []
    with open(self.path) as f:
      for line in f:
        try:
          events.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
          pass
    lines = [json.dumps(e) + "\n" for e in events if e["step"] <= restored_step and e["kind"] != "summary"]
    with open(self.path, "w") as f:
      f.writelines(lines)

  def write(self, kind: str, step: int, values: dict) -> None:
    if not self.enabled:
      return
    record = {"kind": kind, "step": step, **values}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    for name, value in values.items():
      if isinstance(value, (int, float)):
        self.writer.add_scalar(f"{kind}/{name}", value, step)
    self.writer.flush()

  def close(self):
    if self.writer is not None:
      self.writer.close()


class Progress:
  """`step 120/900 epoch 2/15 loss 0.4123 1234 ex/s ETA 0:00:42` lines on stderr (sequence tasks: tok/s)."""

  def __init__(self, total_steps: int, steps_per_epoch: int, enabled: bool = True):
    self.total, self.spe, self.enabled = total_steps, steps_per_epoch, enabled
    self.t0, self.step0 = None, None

  def start(self, step: int) -> None:
    self.t0, self.step0 = time.perf_counter(), step

  def update(self, step: int, loss: float, examples_per_sec: float, tokens_per_example: int = 0) -> None:
    if not self.enabled:
      return
    done = step - self.step0
    eta = (time.perf_counter() - self.t0) / done * (self.total - step) if done > 0 else 0.0
    eta = time.strftime("%H:%M:%S", time.gmtime(eta))
    rate = (f"{examples_per_sec * tokens_per_example:.0f} tok/s" if tokens_per_example
            else f"{examples_per_sec:.0f} ex/s")
    print(f"step {step}/{self.total} epoch {(step - 1) // self.spe + 1}/{-(-self.total // self.spe)} "
          f"loss {loss:.4f} {rate} ETA {eta}", file=sys.stderr, flush=True)
