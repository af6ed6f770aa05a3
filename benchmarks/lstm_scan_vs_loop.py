"""Compile time and step time of the stacked LSTM: time loop in `jax.lax.scan` (archs.lstm, via nn.RNN) versus a
per-step Python loop unrolled under jit, for a few sequence lengths. A step is forward + backward of a sum-of-squares
loss. Same parameters for both; the outputs are checked equal before timing.

  python benchmarks/lstm_scan_vs_loop.py --batch 16 --hidden 128 --layers 2 --lengths 16 64 256
"""
import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from archs.lstm import LSTMCell, StackedLSTM


def scan_forward(model):
  return lambda params, x: model.apply({"params": params}, x)[0]


def loop_forward(model):
  cell = LSTMCell(model.features, model.init_scale, model.forget_bias, model.recurrent_bias, model.dtype)

  def forward(params, x):
    for layer in range(model.num_layers):
      carry = cell.initialize_carry(None, x[:, 0].shape)
      outs = []
      for t in range(x.shape[1]):  # the Python loop over time: unrolled into the program
        carry, out = cell.apply({"params": params[f"layer_{layer}"]}, carry, x[:, t])
        outs.append(out)
      x = jnp.stack(outs, axis=1)
    return x
  return forward


def time_step(forward, params, x, repeats):
  step = jax.jit(jax.value_and_grad(lambda p, x: jnp.sum(forward(p, x) ** 2)))
  start = time.perf_counter()
  compiled = step.lower(params, x).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(params, x))  # warm-up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(params, x))
    times.append(time.perf_counter() - start)
  return compile_s, statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--hidden", type=int, default=128)
  parser.add_argument("--layers", type=int, default=2)
  parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256])
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()

  model = StackedLSTM(args.hidden, args.layers)
  print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); batch {args.batch}, "
        f"hidden {args.hidden}, layers {args.layers}; step = forward + backward, median of {args.repeats}")
  columns = ("length", "scan compile s", "scan step ms", "loop compile s", "loop step ms")
  print(" | ".join(f"{c:>{len(c)}}" for c in columns))
  for length in args.lengths:
    x = jnp.asarray(np.random.RandomState(0).randn(args.batch, length, args.hidden), jnp.float32)
    params = model.init(jax.random.key(0), x)["params"]
    np.testing.assert_allclose(jax.jit(scan_forward(model))(params, x), jax.jit(loop_forward(model))(params, x),
                               atol=1e-5, err_msg="scan and loop disagree")
    scan_c, scan_s = time_step(scan_forward(model), params, x, args.repeats)
    loop_c, loop_s = time_step(loop_forward(model), params, x, args.repeats)
    row = (length, f"{scan_c:.2f}", f"{scan_s * 1e3:.2f}", f"{loop_c:.2f}", f"{loop_s * 1e3:.2f}")
    print(" | ".join(f"{v:>{len(c)}}" for v, c in zip(row, columns)), flush=True)


if __name__ == "__main__":
  main()
