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
  """Progress on stderr: `step 120/900 epoch 2/15 loss 0.4123 1234 ex/s ETA 0:00:42` at each log point (sequence
  tasks: tok/s) and, between them, a tqdm bar where stderr is a terminal, else a plain line every 30 seconds, so a
  long epoch never runs silent."""

  def __init__(self, total_steps: int, steps_per_epoch: int, enabled: bool = True, every_seconds: float = 30.0):
    self.total, self.spe, self.enabled, self.every = total_steps, steps_per_epoch, enabled, every_seconds
    self.t0, self.step0, self.last_line, self.bar = None, None, 0.0, None

  def start(self, step: int) -> None:
    self.t0, self.step0, self.last_line = time.perf_counter(), step, time.perf_counter()
    if self.enabled and sys.stderr.isatty():
      from tqdm import tqdm
      self.bar = tqdm(total=self.total, initial=step, unit="step", dynamic_ncols=True, file=sys.stderr, leave=False)

  def _eta(self, step: int) -> str:
    done = step - self.step0
    eta = (time.perf_counter() - self.t0) / done * (self.total - step) if done > 0 else 0.0
    return time.strftime("%H:%M:%S", time.gmtime(eta))

  def _print(self, line: str) -> None:
    if self.bar is not None:
      self.bar.write(line, file=sys.stderr)
    else:
      print(line, file=sys.stderr, flush=True)
    self.last_line = time.perf_counter()

  def tick(self, step: int) -> None:
    """After every device call."""
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.update(step - self.bar.n)
    elif time.perf_counter() - self.last_line >= self.every:
      self._print(f"step {step}/{self.total} epoch {(step - 1) // self.spe + 1}/{-(-self.total // self.spe)} "
                  f"ETA {self._eta(step)}")

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()

  def update(self, step: int, loss: float, examples_per_sec: float, tokens_per_example: int = 0) -> None:
    if not self.enabled:
      return
    rate = (f"{examples_per_sec * tokens_per_example:.0f} tok/s" if tokens_per_example
            else f"{examples_per_sec:.0f} ex/s")
    self._print(f"step {step}/{self.total} epoch {(step - 1) // self.spe + 1}/{-(-self.total // self.spe)} "
                f"loss {loss:.4f} {rate} ETA {self._eta(step)}")


def say(line: str, enabled: bool = True) -> None:
  """What a user reads on stdout: where the run writes, what it resumed, each epoch's evaluation, the result."""
  if enabled:
    print(line, flush=True)


def metrics_text(metrics: dict) -> str:
  return ", ".join(f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}"
                   for name, value in metrics.items())
