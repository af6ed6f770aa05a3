"""Loss landscapes (Li et al. 2018, "Visualizing the loss landscape of neural nets").

- `filter_normalized_direction`: a Gaussian direction whose every filter has the norm of the matching filter of
  the weights. A filter is one output unit: the last axis of a Flax kernel (conv HWIO or dense (in, out)), so the
  norm runs over every other axis. Parameters of rank <= 1 (biases, BatchNorm scales and offsets) get a zero
  direction, as the paper does ("ignore biasbn").
- `surface`: the metrics at params + sum_i coords[g, i] * directions[i] for every grid point g: ONE compiled
  program, `lax.map` over chunks of grid points with `vmap` inside each chunk (no Python loop of compiled calls).
- `interpolation`: the metrics along (1 - alpha) * a + alpha * b (init -> final, or two checkpoints).
`metrics_fn(params, batch) -> scalar or pytree of scalars` with the data `batch` passed to the compiled program
as an argument (`batch=None` for `metrics_fn(params)`); it closes over the non-parameter collections.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def filter_normalized_direction(key: jax.Array, params):
  """A random direction shaped like params, normalised filter-wise to the weights (zeros for rank <= 1)."""
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))

  def one(k, w):
    if w.ndim <= 1:
      return jnp.zeros_like(w)
    d = jax.random.normal(k, w.shape, w.dtype)
    axes = tuple(range(w.ndim - 1))
    d_norm = jnp.sqrt(jnp.sum(d * d, axis=axes, keepdims=True))
    w_norm = jnp.sqrt(jnp.sum(w * w, axis=axes, keepdims=True))
    return d * w_norm / (d_norm + 1e-10)
  return jax.tree.unflatten(treedef, [one(k, w) for k, w in zip(keys, leaves)])


def random_directions(params, num: int = 2, seed: int = 0) -> list:
  """`num` independent filter-normalised directions."""
  keys = jax.random.split(jax.random.key(seed), num)
  return [filter_normalized_direction(k, params) for k in keys]


def grid(span: float = 1.0, points: int = 21, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """(axis values (points,), coordinates (points**dims, dims)): a square grid on [-span, span]^dims."""
  if dims not in (1, 2):
    raise ValueError(f"dims={dims}; accepted: 1 or 2")
  axis = np.linspace(-span, span, points, dtype=np.float32)
  mesh = np.meshgrid(*([axis] * dims), indexing="ij")
  return axis, np.stack([m.ravel() for m in mesh], -1)


def surface(metrics_fn: Callable, params, directions: Sequence, coords, chunk: int = 8, batch=None):
  """Metrics at params + coords[g] . directions for each row g of coords (G, len(directions)).

  Returns metrics_fn's pytree with a leading axis G (numpy). `chunk` grid points are evaluated at once (vmap);
  the chunks run in one `lax.map`.
  """
  coords = jnp.asarray(coords, jnp.float32)
  if coords.ndim != 2 or coords.shape[1] != len(directions):
    raise ValueError(f"coords shape {coords.shape}; accepted: (points, {len(directions)}) for "
                     f"{len(directions)} directions")
  stacked = jax.tree.map(lambda *d: jnp.stack(d), *directions)
  fn = (lambda p, b: metrics_fn(p)) if batch is None else metrics_fn

  @jax.jit
  def run(params, stacked, coords, batch):
    def at(c):
      moved = jax.tree.map(lambda w, d: w + jnp.tensordot(c, d, 1).astype(w.dtype), params, stacked)
      return fn(moved, batch)
    return lax.map(at, coords, batch_size=chunk)
  return jax.tree.map(np.asarray, run(params, stacked, coords, batch))


def interpolation(metrics_fn: Callable, params_a, params_b, alphas, chunk: int = 8, batch=None):
  """Metrics along (1 - alpha) * a + alpha * b for each alpha (alpha = 0 is a, 1 is b; outside extrapolates)."""
  direction = jax.tree.map(lambda a, b: b - a, params_a, params_b)
  return surface(metrics_fn, params_a, [direction], np.asarray(alphas, np.float32)[:, None], chunk, batch)
