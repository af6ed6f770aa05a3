"""Where a train step's time goes: its pieces timed side by side, in one process, JAX and PyTorch.

  python -m benchmarks.step_pieces --models lstm_tiny,transformer_lm_tiny [--batch 32 --seq 128] [--prng rbg]

Pieces (a token model, float32, one intra-op thread): eval-mode inference, the train-mode forward (dropout on),
the gradient, the gradient plus the SGD-momentum update in one jit, and the real pmap'd step of train/step.py;
for PyTorch the same pieces (eager). Every piece is timed in rounds that interleave all pieces, so a change of
load hits them alike; each figure is the median over rounds with the spread [min..max]. Two clocks: wall time,
and the CPU time of the process (user + system, every thread): on a shared machine the wall time of a piece
grows with the load, its CPU time much less, so the CPU time is the measure of the work. Page faults per call
are counted too (fresh buffers of an XLA:CPU execution are page-faulted in on every call).
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from benchmarks import run as bench_run


def clocks():
  r = resource.getrusage(resource.RUSAGE_SELF)
  return np.array([time.perf_counter(), r.ru_utime + r.ru_stime, r.ru_minflt])


def time_rounds(pieces: dict, rounds: int, calls: int, block) -> dict:
  """{name: (calls x 3) per-round figures: wall s, cpu s, minor faults per call}, pieces interleaved per round."""
  for call in pieces.values():
    block(call())
  out = {name: [] for name in pieces}
  for _ in range(rounds):
    for name, call in pieces.items():
      start = clocks()
      for _ in range(calls):
        result = call()
      block(result)
      out[name].append((clocks() - start) / calls)
  return {name: np.array(v) for name, v in out.items()}


def jax_pieces(name: str, batch: int, seq_len: int) -> dict:
  import jax
  import jax.numpy as jnp
  import optax
  from jax.sharding import Mesh, NamedSharding, PartitionSpec

  import archs
  from benchmarks import jax_side
  from train import step as step_lib, tasks

  model = archs.create_model(name)
  task = tasks.LanguageModelTask()
  host = jax_side.synthetic_batch("tokens", 1, batch, 0, 0, seq_len, 0, model.vocab_size)
  one = jax.tree.map(lambda x: jnp.asarray(x[0, 0]), host)
  tx = optax.sgd(0.01, momentum=0.9)
  device = jax.local_devices()[0]
  fresh = lambda: step_lib.init_state(task, model, tx, jax.tree.map(lambda x: x[:1], one), {}, 0, ema=False)
  state = fresh()
  rngs = {"dropout": jax.random.key(1)}
  loss = lambda params, train: task.loss_fn(model, {"params": params}, one, rngs, train, {})[0]

  def sgd_step(params, opt_state):
    grads = jax.grad(loss)(params, True)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  infer = jax.jit(lambda p: model.apply({"params": p}, one["inputs"], train=False))
  forward = jax.jit(lambda p: loss(p, True))
  grad = jax.jit(lambda p: jax.grad(loss)(p, True))
  jit_step = jax.jit(sgd_step)
  mesh = Mesh(np.array([device]), (step_lib.AXIS,))
  batches = jax.device_put(host, NamedSharding(mesh, PartitionSpec(step_lib.AXIS)))
  train = step_lib.make_train_step(task, model, tx, devices=[device])
  holder = {"state": step_lib.replicate(fresh(), [device])}  # its own buffers: the step donates them

  def real_step():
    holder["state"], metrics = train(holder["state"], batches, {})
    return metrics

  p, o = state.params, state.opt_state
  return {"infer": lambda: infer(p), "forward (train)": lambda: forward(p), "grad": lambda: grad(p),
          "grad + update (jit)": lambda: jit_step(p, o), "train step (pmap)": real_step}


def torch_pieces(name: str, batch: int, seq_len: int, vocab_size: int) -> dict:
  import torch

  from benchmarks import torch_side
  model, _ = torch_side.build(name, 0, vocab_size)
  gen = torch.Generator().manual_seed(0)
  x = torch.randint(0, vocab_size, (batch, seq_len), generator=gen)
  y = torch.randint(0, vocab_size, (batch, seq_len), generator=gen)
  opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
  loss = lambda: torch.nn.functional.cross_entropy(model(x).reshape(-1, vocab_size), y.reshape(-1))

  def infer():
    model.eval()
    with torch.no_grad():
      return model(x)

  def forward():
    model.train()
    with torch.no_grad():
      return loss()

  def grad():
    model.train()
    opt.zero_grad(set_to_none=True)
    loss().backward()

  def step():
    grad()
    opt.step()

  return {"infer": infer, "forward (train)": forward, "grad": grad, "train step": step}


def report(side: str, figures: dict, base: str = "infer") -> list[str]:
  rows = []
  for piece, f in figures.items():
    wall, cpu, faults = (np.median(f[:, i]) for i in range(3))
    rel = cpu / np.median(figures[base][:, 1])
    rows.append(f"| {side} | {piece} | {1e3 * wall:,.1f} [{1e3 * f[:, 0].min():,.1f}..{1e3 * f[:, 0].max():,.1f}] | "
                f"{1e3 * cpu:,.1f} [{1e3 * f[:, 1].min():,.1f}..{1e3 * f[:, 1].max():,.1f}] | {rel:.1f} | "
                f"{faults:,.0f} |")
  return rows


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.step_pieces", description=__doc__.splitlines()[0])
  parser.add_argument("--models", default="lstm_tiny,transformer_lm_tiny")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--seq", type=int, default=128)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--calls", type=int, default=3, help="calls per round and piece")
  parser.add_argument("--prng", default="", help="jax_default_prng_impl (threefry2x32, rbg, unsafe_rbg)")
  parser.add_argument("--torch", choices=("auto", "off"), default="auto")
  args = parser.parse_args(argv)
  bench_run.set_threads(1)
  import jax
  if args.prng:
    jax.config.update("jax_default_prng_impl", args.prng)
  use_torch = args.torch == "auto" and bench_run.torch_available()
  results = {}
  for name in args.models.split(","):
    figures = {"jax": time_rounds(jax_pieces(name, args.batch, args.seq), args.rounds, args.calls,
                                  jax.block_until_ready)}
    if use_torch:
      vocab = bench_run._vocab(name, {})
      figures["torch"] = time_rounds(torch_pieces(name, args.batch, args.seq, vocab), args.rounds, args.calls,
                                     lambda _: None)
    results[name] = figures
    print(f"\n`{name}`, batch {args.batch} x {args.seq} tokens, prng {jax.config.jax_default_prng_impl}, "
          f"load {os.getloadavg()[0]:.1f}\n\n| side | piece | wall ms | CPU ms | CPU / infer | faults/call |\n"
          "|---|---|---|---|---|---|\n" + "\n".join(sum((report(s, f) for s, f in figures.items()), [])),
          flush=True)
  return results


if __name__ == "__main__":
  main()
