"""Singular-value fine-tuning (SVF; Sun et al. 2025, "Transformer-Squared: Self-adaptive LLMs", Sec. 3.1).

Each chosen weight matrix W = U diag(s) V^T (its SVD, computed once) becomes W' = U diag(s * z) V^T, and only the
vectors z (one entry per singular value, min(m, n) per matrix) are trained; z = 1 gives back W. Any model's
parameters work: a matrix is chosen when its '/'-joined path (e.g. 'decoder/layer_0/ffn/wi/kernel') matches the
fnmatch `pattern`; it must be a 2-D Dense kernel (DenseGeneral's 3-D attention kernels are not matrices of one
input and one output axis and are refused).

  bases, z = svf_init(params, "*ffn*/kernel")
  loss = lambda z: loss_fn(model.apply({"params": svf_params(params, bases, z)}, x), y)
  z = optax.apply_updates(z, optimizer.update(jax.grad(loss)(z), opt_state, z)[0])  # only z moves

The paper trains z with REINFORCE on task rewards; any loss works here (gradients flow through svf_params).
"""
from __future__ import annotations

import fnmatch

import jax
import jax.numpy as jnp


def _path_name(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def chosen_kernels(params, pattern: str) -> list[str]:
  """The '/'-joined paths of the kernels that `pattern` chooses; a one-line error if none, or if one is not 2-D."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  chosen = [(_path_name(p), x) for p, x in leaves if fnmatch.fnmatchcase(_path_name(p), pattern)]
  if not chosen:
    kernels = [_path_name(p) for p, _ in leaves if _path_name(p).endswith("kernel")]
    raise ValueError(f"svf: pattern {pattern!r} matches no parameter; kernels are e.g. {kernels[:4]}")
  bad = [f"{name} {tuple(x.shape)}" for name, x in chosen if x.ndim != 2 or not name.endswith("kernel")]
  if bad:
    raise ValueError(f"svf: pattern {pattern!r} matches {bad[:3]}; accepted: 2-D Dense kernels only")
  return [name for name, _ in chosen]


def svf_init(params, pattern: str):
  """(bases, z): bases[path] = (U, s, V^T) of each chosen kernel (thin SVD, float32), z[path] = ones like s."""
  flat = {_path_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(params)}
  bases = {}
  for name in chosen_kernels(params, pattern):
    u, s, vt = jnp.linalg.svd(flat[name].astype(jnp.float32), full_matrices=False)
    bases[name] = (u, s, vt)
  return bases, {name: jnp.ones_like(s) for name, (_, s, _) in bases.items()}


def svf_params(params, bases, z):
  """params with each chosen kernel replaced by U diag(s * z) V^T (in its dtype); the rest unchanged."""
  def rebuild(path, x):
    name = _path_name(path)
    if name not in bases:
      return x
    u, s, vt = bases[name]
    return ((u * (s * z[name])) @ vt).astype(x.dtype)
  return jax.tree_util.tree_map_with_path(rebuild, params)
