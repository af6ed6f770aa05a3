"""What the experiment runners share: the commands a user would type, run one at a time under `nice`, timed,
skipped when their output exists (a rerun resumes), and the measured numbers read back from the run directories.

Each runner takes --dry_run (print the commands, run nothing) and --root (default runs/experiments).
Wall times go to ROOT/<experiment>/timings.json, keyed by the command's label.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np

DOCS = os.path.join("docs", "experiments")


def parser(description: str) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--root", default=os.path.join("runs", "experiments"), help="where the run directories go")
  p.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
  p.add_argument("--docs", default=DOCS, help="where the summary figures go (the README's)")
  return p


def train(config: str, workdir: str, *overrides: str) -> list[str]:
  return [sys.executable, "-m", "train.main", "--config", config, "--workdir", workdir, *overrides]


def analyze(command: str, workdir: str, *args: str) -> list[str]:
  return [sys.executable, "-m", "train.analyze", command, "--workdir", workdir, *args]


class Runner:
  """Runs labelled commands in order; `done` is a file whose existence means the command already ran (None:
  always run)."""

  def __init__(self, directory: str, dry_run: bool):
    self.directory, self.dry_run = directory, dry_run
    self.timings_path = os.path.join(directory, "timings.json")
    self.timings = {}
    if os.path.exists(self.timings_path):
      with open(self.timings_path) as f:
        self.timings = json.load(f)

  def __call__(self, label: str, cmd: list[str], done: str | None) -> None:
    if self.dry_run:
      print(shlex.join(cmd))
      return
    if done and os.path.exists(done):
      print(f"[{label}] done already ({done})", flush=True)
      return
    os.makedirs(self.directory, exist_ok=True)
    log = os.path.join(self.directory, f"{label}.log")
    print(f"[{label}] {shlex.join(cmd)} > {log}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as f:
      rc = subprocess.call(["nice", "-n", "10", *cmd], stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if rc != 0:
      raise SystemExit(f"[{label}] failed with status {rc}; see {log}")
    self.timings[label] = round(seconds, 1)
    with open(self.timings_path, "w") as f:
      json.dump(self.timings, f, indent=2)
    print(f"[{label}] {seconds:.0f} s", flush=True)


def read_json(path: str):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def read_metrics(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "metrics.jsonl")
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def curve(events: list[dict], kind: str, key: str) -> np.ndarray:
  """(n, 2) array of (epoch, value) for the `kind` ('train' / 'eval') events that hold `key` (train events carry
  only their step: the epoch is step / the steps per epoch of the eval events, which carry both)."""
  per_epoch = next((e["step"] / e["epoch"] for e in events if e.get("epoch")), 1.0)
  return np.array([(e["step"] / per_epoch, e[key]) for e in events if e.get("kind") == kind and key in e],
                  dtype=float)


def rise(npz_path: str, at: float) -> float | None:
  """Sharpness of a 1-D landscape: mean loss at +-`at` minus the loss at 0 (None if the file is missing)."""
  if not os.path.exists(npz_path):
    return None
  d = np.load(npz_path)
  axis, loss = d["axis"], d["loss"]
  centre = loss[np.argmin(np.abs(axis))]
  return float(np.mean([loss[np.argmin(np.abs(axis - s * at))] for s in (-1, 1)]) - centre)


def markdown(header: list[str], rows: list[list]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
  return "\n".join(lines) + "\n"


def fmt(value, spec: str = ".3g", missing: str = "-") -> str:
  return missing if value is None else format(value, spec)


def write_results(root: str, table: str, data: list) -> None:
  """An experiment's results.md (the markdown table) and results.json (its rows) in root."""
  with open(os.path.join(root, "results.md"), "w") as f:
    f.write(table)
  write_json(os.path.join(root, "results.json"), data)


def write_json(path: str, value) -> None:
  with open(path, "w") as f:
    json.dump(value, f, indent=2)
