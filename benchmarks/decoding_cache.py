"""Transformer decoding with and without the key/value cache: greedy and beam search wall time per batch.

Uncached: every step recomputes the decoder over the whole prefix (and projects the encoder output for
cross-attention again); cached: one token per step, self-attention keys/values appended, cross-attention
keys/values projected once per source. The tokens are checked equal before timing (random weights). XLA's FLOP
count of one decoder step is printed too (deterministic, unlike times on a shared CPU): a cached step that projects
the encoder output (the first step; every step before cross-attention keys/values were cached), a cached step that
reads them, and an uncached step over the whole max_len prefix.

  python -m benchmarks.decoding_cache --batch 8 --src-len 32 --max-len 32 --beam 4
"""
import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from archs import decoding
from archs.transformer import Transformer


def best_time(fn, repeats):
  jax.block_until_ready(fn())  # compile
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times)


def step_flops(model, variables, src, max_len):
  """MFLOP of one decoder step: cached projecting memory, cached reading memory's keys/values, uncached."""
  params = {"params": variables["params"]}
  memory = model.apply(params, src, method=Transformer.encode)
  step = model.clone(decode=True)
  tgt = jnp.ones((src.shape[0], max_len), jnp.int32)
  cache = decoding.zero_cache(step, memory, src, tgt, method=Transformer.decode_logits)
  cached = lambda cache, memory: step.apply({**params, "cache": cache}, memory, src, tgt[:, :1],
                                            method=Transformer.decode_logits, mutable=["cache"])
  filled = cached(cache, memory)[1]["cache"]

  def flops(fn, *args):
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"] / 1e6
  return (flops(cached, cache, memory), flops(lambda c: cached(c, None), filled),
          flops(lambda m: model.apply(params, m, src, tgt, method=Transformer.decode_logits), memory))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--src-len", type=int, default=32)
  parser.add_argument("--max-len", type=int, default=32)
  parser.add_argument("--beam", type=int, default=4)
  parser.add_argument("--d-model", type=int, default=256)
  parser.add_argument("--layers", type=int, default=3)
  parser.add_argument("--vocab", type=int, default=1000)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  model = Transformer(vocab_size=args.vocab, d_model=args.d_model, num_heads=4, d_ff=4 * args.d_model,
                      num_encoder_layers=args.layers, num_decoder_layers=args.layers)
  src = jnp.asarray(np.random.default_rng(0).integers(3, args.vocab, (args.batch, args.src_len)), jnp.int32)
  variables = model.init(jax.random.key(0), src, src[:, :2])
  ids = dict(max_len=args.max_len, bos_id=1, eos_id=2, pad_id=0)
  runs = {
      "greedy": lambda cache: decoding.greedy(model, variables, src, **ids, use_cache=cache),
      f"beam {args.beam}": lambda cache: decoding.beam_search(model, variables, src, **ids, beam_size=args.beam,
                                                              use_cache=cache)[0],
  }
  print(f"d_model {args.d_model}, {args.layers}+{args.layers} layers, vocab {args.vocab}, batch {args.batch}, "
        f"source {args.src_len}, max_len {args.max_len}, {jax.devices()[0].platform}")
  projecting, reading, uncached = step_flops(model, variables, src, args.max_len)
  print(f"one greedy step: cached {reading:.1f} MFLOP ({projecting:.1f} when it projects the encoder output), "
        f"uncached {uncached:.1f} MFLOP")
  for name, run in runs.items():
    np.testing.assert_array_equal(run(False), run(True), err_msg=f"{name}: cached tokens != uncached tokens")
    plain, cached = best_time(lambda: run(False), args.repeats), best_time(lambda: run(True), args.repeats)
    print(f"{name:>8}: uncached {plain * 1e3:8.1f} ms, cached {cached * 1e3:8.1f} ms, speed-up {plain / cached:5.1f}x")


if __name__ == "__main__":
  main()
