"""Curvature of a loss: Hessian-vector products, top eigenvalues, trace, eigenvalue density.

Every function takes `loss_fn(params, batch) -> scalar` and the data subset `batch` (any pytree, passed into
the compiled program as an argument rather than baked in as a constant; `batch=None` for `loss_fn(params)`),
and works on the flattened parameter vector (`jax.flatten_util.ravel_pytree`). Loops over Lanczos or power
iterations run inside one compiled program (`lax.fori_loop` / `lax.map`).

A BatchNorm model's `loss_fn` should apply it in train mode (statistics of the batch, not the running ones),
as Ghorbani et al. and PyHessian do: that is the function the optimizer descends.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree


def hvp(loss_fn: Callable, params, v, batch=None):
  """H v by forward-over-reverse: the directional derivative of the gradient along v (same pytree as params)."""
  fn = _with_batch(loss_fn, batch)
  return jax.jvp(jax.grad(lambda p: fn(p, batch)), (params,), (v,))[1]


def _with_batch(loss_fn: Callable, batch):
  return (lambda p, b: loss_fn(p)) if batch is None else loss_fn


def _flat(loss_fn: Callable, params, batch):
  """(program, flat params, batch): `program(body)` compiles body(matvec, flat, batch, key) with matvec = H v."""
  flat, unravel = ravel_pytree(params)
  fn = _with_batch(loss_fn, batch)

  def program(body):
    def run(flat, batch, key):
      grad = jax.grad(lambda p: fn(unravel(p), batch))
      matvec = lambda v: jax.jvp(grad, (flat,), (v.astype(flat.dtype),))[1]
      return body(matvec, flat.size, key)
    return jax.jit(run)
  return program, flat, batch


def lanczos(matvec: Callable, v0: jax.Array, num_steps: int):
  """Lanczos tridiagonalization with full reorthogonalization: (alphas (m,), betas (m-1,)).

  The Ritz values (eigenvalues of the tridiagonal T) approximate the extreme eigenvalues first. If the Krylov
  space is exhausted before `num_steps` (beta ~ 0), the rest of T is a decoupled zero block that carries no
  weight in the quadrature (its first eigenvector components are 0).
  """
  n = v0.shape[0]
  v0 = v0 / jnp.linalg.norm(v0)
  basis = jnp.zeros((num_steps + 1, n), v0.dtype).at[0].set(v0)

  def step(i, carry):
    basis, alphas, betas = carry
    v = basis[i]
    w = matvec(v)
    alpha = jnp.vdot(w, v)
    for _ in range(2):  # twice is enough (Parlett's "twice is enough") in float32
      w = w - basis.T @ (basis @ w)
    beta = jnp.linalg.norm(w)
    scale = jnp.where(beta > 1e-6 * jnp.maximum(jnp.abs(alpha), 1.0), 1.0 / beta, 0.0)
    basis = basis.at[i + 1].set(w * scale)
    return basis, alphas.at[i].set(alpha), betas.at[i].set(beta * (scale > 0))

  init = (basis, jnp.zeros(num_steps, v0.dtype), jnp.zeros(num_steps, v0.dtype))
  _, alphas, betas = lax.fori_loop(0, num_steps, step, init)
  return alphas, betas[:-1]


def _tridiagonal(alphas, betas):
  return jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)


def top_eigenvalues(loss_fn: Callable, params, batch=None, k: int = 5, num_steps: int = 50,
                    seed: int = 0) -> np.ndarray:
  """The k largest (algebraic) Hessian eigenvalues by Lanczos (Ritz values of `num_steps` iterations)."""
  program, flat, batch = _flat(loss_fn, params, batch)
  num_steps = min(num_steps, flat.size)
  if not 1 <= k <= num_steps:
    raise ValueError(f"k={k}; accepted: 1..{num_steps} (num_steps, at most the {flat.size} parameters)")

  def body(matvec, n, key):
    alphas, betas = lanczos(matvec, jax.random.normal(key, (n,)), num_steps)
    return jnp.linalg.eigvalsh(_tridiagonal(alphas, betas))[::-1][:k]
  return np.asarray(program(body)(flat, batch, jax.random.key(seed)))


def power_iteration(loss_fn: Callable, params, batch=None, k: int = 1, num_iters: int = 100, tol: float = 1e-4,
                    seed: int = 0) -> np.ndarray:
  """The k eigenvalues of largest magnitude by power iteration with deflation (PyHessian's method).

  Each eigenvector is iterated on H minus the eigenpairs found before it, until the Rayleigh quotient moves by
  less than `tol` relative or after `num_iters` products.
  """
  program, flat, batch = _flat(loss_fn, params, batch)

  def body(matvec, n, key):
    def one(i, carry):
      vals, vecs = carry
      deflated = lambda v: matvec(v) - vecs.T @ (vals * (vecs @ v))

      def cond(c):
        it, _, lam, prev = c
        return (it < num_iters) & (jnp.abs(lam - prev) > tol * jnp.abs(lam) + 1e-12)

      def body(c):
        it, v, lam, _ = c
        w = deflated(v)
        return it + 1, w / jnp.linalg.norm(w), jnp.vdot(v, w), lam

      v = jax.random.normal(jax.random.fold_in(key, i), (n,))
      _, v, lam, _ = lax.while_loop(cond, body, (0, v / jnp.linalg.norm(v), jnp.float32(0), jnp.float32(jnp.inf)))
      return vals.at[i].set(lam), vecs.at[i].set(v)

    vals, _ = lax.fori_loop(0, k, one, (jnp.zeros(k), jnp.zeros((k, n))))
    return vals
  return np.asarray(program(body)(flat, batch, jax.random.key(seed)))


def hutchinson_trace(loss_fn: Callable, params, batch=None, num_samples: int = 100, seed: int = 0, chunk: int = 10):
  """(estimate, standard error) of tr(H) = E[v^T H v] over Rademacher v; products in chunks of `chunk`."""
  program, flat, batch = _flat(loss_fn, params, batch)

  def body(matvec, n, key):
    vs = jax.random.rademacher(key, (num_samples, n), jnp.float32)
    return lax.map(lambda v: jnp.vdot(v, matvec(v)), vs, batch_size=chunk)
  samples = np.asarray(program(body)(flat, batch, jax.random.key(seed)), np.float64)
  return float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(num_samples))


def slq(loss_fn: Callable, params, batch=None, num_runs: int = 10, num_steps: int = 80, seed: int = 0):
  """Stochastic Lanczos quadrature: (nodes (runs, m), weights (runs, m)).

  For each random unit start vector, the Ritz values and the squared first components of their eigenvectors are
  a quadrature of the spectral measure: sum_j w_j f(node_j) ~ (1/n) tr f(H). Weights of each run sum to 1.
  """
  program, flat, batch = _flat(loss_fn, params, batch)
  num_steps = min(num_steps, flat.size)

  def body(matvec, n, key):
    def one(k):
      alphas, betas = lanczos(matvec, jax.random.normal(k, (n,)), num_steps)
      nodes, vecs = jnp.linalg.eigh(_tridiagonal(alphas, betas))
      return nodes, vecs[0] ** 2
    return lax.map(one, jax.random.split(key, num_runs))
  nodes, weights = program(body)(flat, batch, jax.random.key(seed))
  return np.asarray(nodes), np.asarray(weights)


def density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
  """The SLQ eigenvalue density on `grid`: Gaussians of width `sigma` at the nodes, averaged over runs."""
  nodes, weights = np.asarray(nodes, np.float64), np.asarray(weights, np.float64)
  d = grid[:, None, None] - nodes[None]
  g = np.exp(-0.5 * (d / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
  return (g * weights[None]).sum(-1).mean(-1)


def moments(nodes: np.ndarray, weights: np.ndarray, orders=(1, 2)) -> list[float]:
  """Estimates of (1/n) tr H^p from the quadrature, one per order p."""
  return [float((weights * np.asarray(nodes, np.float64) ** p).sum(-1).mean()) for p in orders]


# ------------------------------------------------------------- everything from one Hessian-vector program

def convolves(loss_fn: Callable, params, batch=None) -> bool:
  """Whether the loss contains a convolution (traced abstractly)."""
  return "conv_general_dilated" in str(jax.make_jaxpr(_with_batch(loss_fn, batch))(params, batch))


def host_loop_by_default(loss_fn: Callable, params, batch=None) -> bool:
  """XLA:CPU runs convolutions in a loop body on a slow path (BENCHMARKS.md; train/step.py does the same):
  there, a convolutional model's iterations are a Python loop around ONE compiled block of products."""
  return jax.default_backend() == "cpu" and convolves(loss_fn, params, batch)


def _host_fori(n: int, body, carry):
  for i in range(n):
    carry = body(jnp.int32(i), carry)  # an array index: the eager ops compile once, not once per i
  return carry


def _device_fori(n: int, body, carry):
  return lax.fori_loop(0, n, body, carry)


def _lanczos_lockstep(matvecs, v0, num_steps: int, fori):
  """Lanczos with full reorthogonalisation for b start vectors at once (v0 (b, n)): every step is ONE batched
  product of b vectors. (alphas (b, m), betas (b, m-1))."""
  b, n = v0.shape
  basis = jnp.zeros((b, num_steps + 1, n), v0.dtype).at[:, 0].set(v0 / jnp.linalg.norm(v0, axis=-1, keepdims=True))

  def step(i, carry):
    basis, alphas, betas = carry
    v = basis[:, i]
    w = matvecs(v)
    alpha = jnp.sum(w * v, -1)
    for _ in range(2):  # twice is enough (Parlett)
      w = w - jnp.einsum("bmn,bm->bn", basis, jnp.einsum("bmn,bn->bm", basis, w))
    beta = jnp.linalg.norm(w, axis=-1)
    scale = jnp.where(beta > 1e-6 * jnp.maximum(jnp.abs(alpha), 1.0), 1.0 / beta, 0.0)
    return (basis.at[:, i + 1].set(w * scale[:, None]), alphas.at[:, i].set(alpha),
            betas.at[:, i].set(beta * (scale > 0)))

  zeros = jnp.zeros((b, num_steps), v0.dtype)
  _, alphas, betas = fori(num_steps, step, (basis, zeros, zeros))
  return alphas, betas[:, :-1]


def spectrum(loss_fn: Callable, params, batch=None, top_k: int = 5, num_runs: int = 2, num_steps: int = 20,
             trace_samples: int = 10, seed: int = 0, host_loop: bool | None = None) -> dict:
  """The `hessian` command's figures from one compiled program of Hessian-vector products (compiling it is most of
  the cost for a convnet on a CPU: VanillaNet-5's takes minutes, its product seconds).

  - SLQ: `num_runs` Lanczos processes of `num_steps` in lockstep (each step one batched product of num_runs
    vectors) -> 'nodes', 'weights' (runs, m), as `slq`.
  - 'top_eigenvalues': the top_k largest Ritz values, the largest over the runs at each rank: by Cauchy
    interlacing the j-th Ritz value of a run is at most the j-th eigenvalue, so the largest is the tightest.
  - 'trace', 'trace_stderr': Hutchinson over `trace_samples` Rademacher vectors in blocks of num_runs (the same
    batched product; a ragged last block is computed and dropped).
  host_loop (default: `host_loop_by_default`): False = every loop inside one compiled program; True = Python loops
  around ONE compiled product of one vector (no convolution inside a loop body, none batched into a grouped one).
  """
  flat, unravel = ravel_pytree(params)
  fn = _with_batch(loss_fn, batch)
  num_steps = min(num_steps, flat.size)
  if not 1 <= top_k <= num_steps:
    raise ValueError(f"top_k={top_k}; accepted: 1..{num_steps} (num_steps, at most the {flat.size} parameters)")
  blocks = -(-trace_samples // num_runs)

  def product(flat, batch, v):
    grad = jax.grad(lambda p: fn(unravel(p), batch))
    return jax.jvp(grad, (flat,), (v.astype(flat.dtype),))[1]

  def body(matvecs, key, fori):
    lanczos_key, trace_key = jax.random.split(key)
    alphas, betas = _lanczos_lockstep(matvecs, jax.random.normal(lanczos_key, (num_runs, flat.size)), num_steps,
                                      fori)
    nodes, vecs = jnp.linalg.eigh(jax.vmap(_tridiagonal)(alphas, betas))

    def block(i, samples):
      vs = jax.random.rademacher(jax.random.fold_in(trace_key, i), (num_runs, flat.size), jnp.float32)
      return samples.at[i].set(jnp.sum(vs * matvecs(vs), -1))
    samples = fori(blocks, block, jnp.zeros((blocks, num_runs), jnp.float32))
    return nodes, vecs[:, 0, :] ** 2, samples

  key = jax.random.key(seed)
  if host_loop_by_default(loss_fn, params, batch) if host_loop is None else host_loop:
    compiled = jax.jit(product)  # one vector per call: a vmapped conv tangent is a grouped conv, slow on XLA:CPU
    nodes, weights, samples = body(lambda vs: jnp.stack([compiled(flat, batch, v) for v in vs]), key, _host_fori)
  else:
    products = jax.vmap(product, in_axes=(None, None, 0))
    run = jax.jit(lambda flat, batch, key: body(lambda vs: products(flat, batch, vs), key, _device_fori))
    nodes, weights, samples = run(flat, batch, key)
  nodes, weights = np.asarray(nodes), np.asarray(weights)
  samples = np.asarray(samples, np.float64).reshape(-1)[:trace_samples]
  top = np.sort(nodes, axis=-1)[:, ::-1][:, :top_k].max(axis=0)
  stderr = samples.std(ddof=1) / np.sqrt(trace_samples) if trace_samples > 1 else float("nan")
  return {"top_eigenvalues": top, "trace": float(samples.mean()), "trace_stderr": float(stderr), "nodes": nodes,
          "weights": weights}
