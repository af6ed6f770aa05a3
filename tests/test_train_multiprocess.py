"""More than one process: the data order, the flags, and 2 processes x 4 devices == 1 process x 8 (issue 11, 5)."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest

from train import data, distributed, errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_each_host_reads_its_rows_of_the_same_global_batches():
  source = data.ArraySource({"x": np.arange(100)})
  whole = data.train_epoch(source, seed=3, epoch=1, global_batch=8, augment=False)
  parts = [data.train_epoch(source, 3, 1, 8, False, process_index=p, process_count=2) for p in (0, 1)]
  assert len(parts[0]) == len(parts[1]) == len(whole) == 12
  for step in range(len(whole)):
    np.testing.assert_array_equal(np.concatenate([parts[0][step]["x"], parts[1][step]["x"]]), whole[step]["x"])


@pytest.mark.parametrize("given,missing", [({"coordinator_address": "127.0.0.1:1234"}, "--num_processes"),
                                           ({"num_processes": 2, "process_id": 0}, "--coordinator_address")])
def test_incomplete_settings_are_one_line(given, missing, monkeypatch):
  for name in distributed.ENV.values():
    monkeypatch.delenv(name, raising=False)
  with pytest.raises(errors.UserError, match=missing):
    distributed.settings(**given)


def test_settings_from_the_environment(monkeypatch):
  monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
  monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
  monkeypatch.setenv("JAX_PROCESS_ID", "3")
  assert distributed.settings(process_id=1) == {"coordinator_address": "10.0.0.1:1234", "num_processes": 4,
                                                "process_id": 1}, "a flag wins over the environment"
  monkeypatch.setenv("JAX_PROCESS_ID", "4")
  with pytest.raises(errors.UserError, match="0 <= process_id < num_processes"):
    distributed.settings()


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _train(workdir, processes, epochs, devices=8, *extra):
  args = ["--config", "configs/lenet5.py", "--workdir", str(workdir), f"--config.num_epochs={epochs}",
          "--config.batch_size=64", "--config.steps_per_call=1", "--config.checkpoint_every_epochs=0",
          "--config.checkpoint_every_steps=1000", *extra]
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices // processes}"}
  port = _free_port()
  procs = [subprocess.Popen([sys.executable, "-m", "train.main", *args] + (
      [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={processes}", f"--process_id={p}"]
      if processes > 1 else []), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
      for p in range(processes)]
  for proc in procs:
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-2000:]
  return json.loads((workdir / "summary.json").read_text())


def _params(workdir, step):
  return ocp.StandardCheckpointer().restore(str(workdir / "checkpoints" / str(step) / "default"))["params"]


@pytest.mark.slow
def test_two_processes_equal_one_and_their_checkpoints_move_between_them(tmp_path):
  two, one = tmp_path / "two", tmp_path / "one"
  a, b = _train(two, 2, 1), _train(one, 1, 1)
  assert a["steps"] == b["steps"] == 22 and a["num_devices"] == b["num_devices"] == 8
  # Equal up to the order in which the cross-process all-reduce adds (gloo vs one process): float rounding.
  np.testing.assert_allclose(a["eval_loss"], b["eval_loss"], rtol=1e-5)
  import jax
  for x, y in zip(jax.tree.leaves(_params(two, 22)), jax.tree.leaves(_params(one, 22))):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
  events = [json.loads(l) for l in (two / "metrics.jsonl").read_text().splitlines()]
  assert len(events) == len({(e["kind"], e["step"]) for e in events}), "only process 0 writes the logs"

  a2, b2 = _train(two, 1, 2), _train(one, 2, 2)  # each run extended in the other layout
  assert a2["steps"] == b2["steps"] == 44
  np.testing.assert_allclose(a2["eval_loss"], b2["eval_loss"], rtol=1e-4)


def test_distributed_without_a_cluster_is_one_line(monkeypatch):
  for name in distributed.ENV.values():
    monkeypatch.delenv(name, raising=False)
  with pytest.raises(errors.UserError, match="cannot join the multi-process run .*coordinator_address"):
    distributed.initialize(True)


@pytest.mark.slow
def test_two_processes_using_some_of_their_devices_equal_one(tmp_path):
  # pmap maps over the first num_devices local devices of EVERY process (step.pmap_devices): 2 processes x 2 of
  # their 4 devices are the same 4-device run as 1 process x 4.
  two = _train(tmp_path / "two", 2, 1, 8, "--config.num_devices=2")
  one = _train(tmp_path / "one", 1, 1, 4)
  assert two["num_devices"] == one["num_devices"] == 4 and two["steps"] == one["steps"] == 22
  np.testing.assert_allclose(two["eval_loss"], one["eval_loss"], rtol=1e-5)
