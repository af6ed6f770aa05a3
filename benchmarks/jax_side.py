"""The JAX side of the benchmark: the REAL train step of train/ (`train.step.make_train_step`, pmap'd, donated
state, K steps per call), jitted eval-mode `apply` for inference, on synthetic data already on the device."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import archs
from archs import costs
from train import step as step_lib, tasks

# Peak dense bf16 FLOP/s per chip (vendor data sheets; H100/H200 SXM, A100 SXM). MFU is left out elsewhere.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "TPU v6": 918e12, "TPU v5 lite": 197e12,
                   "TPU v5e": 197e12, "TPU v5p": 459e12, "TPU v5": 459e12, "TPU v4": 275e12}
SEQ2SEQ = ("transformer_tiny", "transformer_base")


def peak_flops(device) -> float | None:
  return next((v for k, v in PEAK_BF16_FLOPS.items() if k in device.device_kind), None)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def median_seconds(call, calls: int, windows: int, clock: str = "wall") -> float:
  """Median over `windows` timed windows of `calls` calls each; `call` returns what to block on. clock "cpu": the
  CPU time of the process (every thread), which on a shared CPU grows with the load much less than wall time."""
  now, times = CLOCKS[clock], []
  for _ in range(windows):
    t0 = now()
    out = None
    for _ in range(calls):
      out = call()
    jax.block_until_ready(out)
    times.append((now() - t0) / calls)
  return float(np.median(times))


def input_kind(model) -> str:
  if type(model).__name__ == "Transformer":
    return "seq2seq"
  return "tokens" if hasattr(model, "vocab_size") else "image"


def synthetic_batch(kind, k, batch, image, channels, seq_len, num_classes, vocab_size):
  """A (1, K, B, ...) batch of random inputs and labels for one device."""
  rng = np.random.default_rng(0)
  tokens = lambda: rng.integers(3, vocab_size, (1, k, batch, seq_len)).astype(np.int32)
  if kind == "image":
    return {"image": rng.standard_normal((1, k, batch, image, image, channels), np.float32),
            "label": rng.integers(0, num_classes, (1, k, batch)).astype(np.int32)}
  if kind == "tokens":
    return {"inputs": tokens(), "targets": tokens()}
  return {"src": tokens(), "tgt_in": tokens(), "tgt_out": tokens()}


def measure(name: str, overrides: dict, *, batch: int, image: int, seq_len: int, num_classes: int, dtype: str,
            steps_per_call: int, calls: int, windows: int, clock: str = "wall") -> dict:
  """Compile time, train and inference throughput, batch-1 latency, peak memory and MFU of one model."""
  probe = archs.create_model(name, **overrides)
  kind = input_kind(probe)
  fields = {"dtype": jnp.bfloat16 if dtype == "bfloat16" else jnp.float32}
  if kind == "image":
    fields["num_classes"] = num_classes
    (default_shape, _), = costs.default_inputs(name)
    image = min(image, default_shape[1])  # models made for 32x32 (LeNet-5, CIFAR nets) keep their size
    channels = default_shape[3]
  else:
    channels = 0
  model = archs.create_model(name, **overrides, **fields)
  vocab_size = getattr(model, "vocab_size", 0)
  task = {"image": tasks.ClassificationTask, "tokens": tasks.LanguageModelTask,
          "seq2seq": tasks.Seq2SeqTask}[kind]()
  device = jax.local_devices()[0]
  host_batch = synthetic_batch(kind, steps_per_call, batch, image, channels, seq_len, num_classes, vocab_size)
  mesh = Mesh(np.array([device]), (step_lib.AXIS,))
  batches = jax.device_put(host_batch, NamedSharding(mesh, PartitionSpec(step_lib.AXIS)))
  tx = optax.sgd(0.01, momentum=0.9)
  example = jax.tree.map(lambda x: x[0, 0, :1], host_batch)
  state = step_lib.replicate(step_lib.init_state(task, model, tx, example, {}, 0, ema=False), [device])
  train = step_lib.make_train_step(task, model, tx, devices=[device])
  holder = {"state": state}

  def train_call():
    holder["state"], metrics = train(holder["state"], batches, {})
    return metrics

  t0 = time.perf_counter()
  jax.block_until_ready(train_call())
  first = time.perf_counter() - t0
  call_s = median_seconds(train_call, calls, windows, clock)
  first -= median_seconds(train_call, 1, 1)  # compile time: the first call less a steady call, both wall time
  per_s = steps_per_call * batch / call_s

  state = holder["state"]
  variables = {"params": state.params, **state.model_state}
  inputs = task.init_inputs(jax.tree.map(lambda x: x[0, 0], batches))
  forward = jax.jit(lambda v, *x: model.apply(v, *x, train=False))
  jax.block_until_ready(forward(variables, *inputs))
  infer_s = median_seconds(lambda: forward(variables, *inputs), calls, windows, clock)
  single = tuple(x[:1] for x in inputs)
  jax.block_until_ready(forward(variables, *single))
  latency_s = median_seconds(lambda: forward(variables, *single), calls, windows, clock)

  cost = costs.profile(model, tuple((x.shape, str(x.dtype)) for x in single), xla=False)
  train_flops = 6.0 * cost.macs * per_s  # forward 2 x MACs, backward twice the forward
  peak = peak_flops(device) if dtype == "bfloat16" else None
  stats = device.memory_stats() or {}
  tokens = seq_len if kind != "image" else 0
  return {"input": (f"{image}x{image}x{channels}" if kind == "image" else f"{seq_len} tokens"),
          "compile_s": max(0.0, first), "train_per_s": per_s, "train_tokens_per_s": per_s * tokens,
          "infer_per_s": batch / infer_s, "latency_ms": 1e3 * latency_s, "macs": cost.macs,
          "peak_mem_mb": stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None,
          "mfu": train_flops / peak if peak else None, "steps_per_call": steps_per_call}
