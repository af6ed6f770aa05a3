"""Dense vs grouped vs depthwise-separable 3x3 convolution at matched MACs: forward and forward+backward time.

  python -m benchmarks.conv_groups [--size 32] [--batch 16] [--channels 64] [--groups 8]

The folklore (LITERATURE_CLAIMS.md): grouped convolution is 5-6x slower than a dense one of the same FLOPs. The
three layers below do the same number of multiply-accumulates per pixel (9 C^2), counted by archs.costs:
dense 3x3 C -> C; grouped 3x3 with G groups at width C sqrt(G); depthwise 3x3 + pointwise 1x1 at the width W with
9 W + W^2 = 9 C^2. Reported: MACs (exact), milliseconds, and GMAC/s per direction; medians of timed windows.
"""
from __future__ import annotations

import argparse
import math
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from archs import costs


class Layer(nn.Module):
  kind: str
  width: int
  groups: int = 1

  @nn.compact
  def __call__(self, x, train=False):
    if self.kind == "separable":
      x = nn.Conv(self.width, (3, 3), padding=1, feature_group_count=self.width, use_bias=False)(x)
      return nn.Conv(self.width, (1, 1), use_bias=False)(x)
    return nn.Conv(self.width, (3, 3), padding=1, feature_group_count=self.groups, use_bias=False)(x)


def median_ms(fn, *args, calls=5, windows=3) -> float:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(windows):
    t0 = time.perf_counter()
    for _ in range(calls):
      out = fn(*args)
    jax.block_until_ready(out)
    times.append((time.perf_counter() - t0) / calls)
  return 1e3 * float(np.median(times))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--channels", type=int, default=64)
  parser.add_argument("--groups", type=int, default=8)
  args = parser.parse_args(argv)
  c, g = args.channels, args.groups
  grouped_width = g * round(c * math.sqrt(g) / g)
  separable_width = round((-9 + math.sqrt(81 + 36 * c * c)) / 2)
  print(f"backend {jax.default_backend()}, {args.batch}x{args.size}x{args.size}, matched at 9 x {c}^2 MACs/pixel")
  print("| layer | width | MACs | forward ms | fwd GMAC/s | fwd+bwd ms | fwd+bwd GMAC/s (3x MACs) |")
  print("|---|---|---|---|---|---|---|")
  for kind, width, groups in (("dense", c, 1), (f"grouped G={g}", grouped_width, g),
                              ("depthwise + 1x1", separable_width, 1)):
    layer = Layer("separable" if kind.startswith("depthwise") else "conv", width, groups)
    x = jax.random.normal(jax.random.key(0), (args.batch, args.size, args.size, width))
    variables = layer.init(jax.random.key(1), x)
    macs = costs.profile(layer, (args.batch, args.size, args.size, width), xla=False).macs
    forward = jax.jit(layer.apply)
    train = jax.jit(jax.grad(lambda v, x: jnp.sum(layer.apply(v, x) ** 2), argnums=(0, 1)))
    fwd, both = median_ms(forward, variables, x), median_ms(train, variables, x)
    print(f"| {kind} | {width} | {macs / 1e6:.1f} M | {fwd:.2f} | {macs / fwd / 1e6:.1f} | {both:.2f} | "
          f"{3 * macs / both / 1e6:.1f} |", flush=True)


if __name__ == "__main__":
  main()
