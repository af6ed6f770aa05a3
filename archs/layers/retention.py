"""Retention (Sun et al. 2023, "Retentive Network"): its three equivalent forms, as pure functions.

Shapes: q, k (B, H, L, d_k); v (B, H, L, d_v); gamma (H,); state (B, H, d_k, d_v).
Every form computes the same function, the unnormalized retention of the paper (eq. 5-8):

  o_n = sum_{m <= n} gamma^(n-m) (q_n . k_m) v_m          (parallel:  (Q K^T * D) V)
  S_n = gamma S_{n-1} + k_n^T v_n,  o_n = q_n S_n          (recurrent)
  chunk i: (Q_i K_i^T * D_C) V_i + (Q_i R_{i-1}) * xi,  R_i = gamma^C R_{i-1} + K_i^T (V_i * zeta)

and each also returns the state after the last token, so that decoding can continue from any form.
An incoming `state` (the S after earlier tokens) adds (q_n S) gamma^(n+1) to o_n.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("parallel", "recurrent", "chunkwise")
SCORE_NORMS = ("none", "torchscale")


def retention_decays(num_heads: int) -> np.ndarray:
  """gamma_h = 1 - 2^(-5-h), one decay per head (paper section 2.2; torchscale RetNetRelPos)."""
  return 1.0 - 2.0 ** (-5.0 - np.arange(num_heads, dtype=np.float64))


def rotary_frequencies(key_dim: int) -> np.ndarray:
  """theta = 1/10000^linspace(0, 1, d_k/2), each frequency repeated twice (interleaved pairs), as torchscale."""
  if key_dim % 2:
    raise ValueError(f"key head dim must be even for the rotation, got {key_dim}")
  return np.repeat(1.0 / 10000.0 ** np.linspace(0.0, 1.0, key_dim // 2), 2)


def rotate(x, positions):
  """xPos-like relative position: x cos(n theta) + rotate_every_two(x) sin(n theta) at absolute position n.

  x (..., L, d_k); positions (L,). rotate_every_two maps each pair (x0, x1) to (-x1, x0).
  """
  theta = jnp.asarray(rotary_frequencies(x.shape[-1]), jnp.float32)
  angle = positions.astype(jnp.float32)[:, None] * theta[None, :]
  pairs = jnp.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
  return x * jnp.cos(angle).astype(x.dtype) + pairs * jnp.sin(angle).astype(x.dtype)


def _powers(gamma, exponents):
  """gamma_h ** e for every head h and exponent e: (H, len(exponents))."""
  return jnp.exp(jnp.log(gamma)[:, None] * jnp.asarray(exponents, jnp.float32)[None, :])


def decay_mask(gamma, length: int):
  """D_nm = gamma^(n-m) where n >= m, else 0: (H, L, L)."""
  n = np.arange(length)
  diff = n[:, None] - n[None, :]
  d = jnp.exp(jnp.log(gamma)[:, None, None] * jnp.asarray(np.maximum(diff, 0), jnp.float32))
  return jnp.where(jnp.asarray(diff >= 0), d, 0.0)


def _with_state(out, q, gamma, state):
  """Adds the contribution of an incoming state: (q_n S) gamma^(n+1)."""
  if state is None:
    return out
  xi = _powers(gamma, np.arange(1, q.shape[-2] + 1)).astype(q.dtype)  # (H, L)
  return out + jnp.einsum("bhnd,bhde->bhne", q, state) * xi[None, :, :, None]


def _final_state(k, v, gamma, state):
  """S_L = gamma^L S_0 + sum_m gamma^(L-1-m) k_m^T v_m."""
  length = k.shape[-2]
  zeta = _powers(gamma, np.arange(length - 1, -1, -1)).astype(k.dtype)  # (H, L)
  new = jnp.einsum("bhmd,bhme->bhde", k * zeta[None, :, :, None], v)
  if state is not None:
    new = new + state * _powers(gamma, [length]).astype(k.dtype)[None, :, :, None]
  return new


def retention_parallel(q, k, v, gamma, state=None):
  """Parallel form (training): (Q K^T * D) V. Returns (outputs (B, H, L, d_v), final state)."""
  scores = jnp.einsum("bhnd,bhmd->bhnm", q, k) * decay_mask(gamma, q.shape[-2]).astype(q.dtype)
  out = jnp.einsum("bhnm,bhme->bhne", scores, v)
  return _with_state(out, q, gamma, state), _final_state(k, v, gamma, state)


def retention_step(state, q, k, v, gamma):
  """One recurrent step (O(1) decoding): q, k (B, H, d_k), v (B, H, d_v). Returns (o (B, H, d_v), state)."""
  state = gamma.astype(state.dtype)[None, :, None, None] * state + k[..., :, None] * v[..., None, :]
  return jnp.einsum("bhd,bhde->bhe", q, state), state


def retention_recurrent(q, k, v, gamma, state=None):
  """Recurrent form: `retention_step` scanned over time. Returns (outputs, final state)."""
  b, h, _, dk = q.shape
  if state is None:
    state = jnp.zeros((b, h, dk, v.shape[-1]), v.dtype)
  time_major = [jnp.moveaxis(a, 2, 0) for a in (q, k, v)]
  state, out = jax.lax.scan(lambda s, qkv: retention_step(s, *qkv, gamma)[::-1], state, time_major)
  return jnp.moveaxis(out, 0, 2), state


def retention_chunkwise(q, k, v, gamma, chunk_size: int, state=None):
  """Chunkwise form: parallel inside chunks of `chunk_size`, recurrent across them (paper eq. 7).

  A length that is not a multiple of the chunk size is zero-padded at the end; the padded keys and values
  add nothing, and the last chunk's state update decays by its true length (not chunk_size), so the
  returned state is the state after the last real token. Returns (outputs, final state).
  """
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
  b, h, length, dk = q.shape
  dv = v.shape[-1]
  num_chunks = -(-length // chunk_size)
  pad = num_chunks * chunk_size - length

  def chunks(a):  # (B, H, L, d) -> (N, B, H, C, d)
    a = jnp.pad(a, ((0, 0), (0, 0), (0, pad), (0, 0)))
    return jnp.moveaxis(a.reshape(b, h, num_chunks, chunk_size, a.shape[-1]), 2, 0)

  qc, kc, vc = chunks(q), chunks(k), chunks(v)
  inner = jnp.einsum("nbhid,nbhjd->nbhij", qc, kc) * decay_mask(gamma, chunk_size).astype(q.dtype)
  inner = jnp.einsum("nbhij,nbhje->nbhie", inner, vc)
  # Each chunk's own contribution to the state, decayed to the chunk's last real token.
  valid = np.full(num_chunks, chunk_size)
  valid[-1] = chunk_size - pad
  offsets = np.maximum(valid[:, None] - 1 - np.arange(chunk_size)[None, :], 0)  # (N, C)
  zeta = jnp.exp(jnp.log(gamma)[None, :, None] * jnp.asarray(offsets, jnp.float32)[:, None, :])  # (N, H, C)
  kv = jnp.einsum("nbhcd,nbhce->nbhde", kc * zeta[:, None, :, :, None].astype(k.dtype), vc)
  cross_decay = _powers(gamma, valid).T.astype(q.dtype)  # (N, H): gamma^(chunk length)

  def carry(prev, inputs):
    kv_i, decay_i = inputs
    return decay_i[None, :, None, None] * prev + kv_i, prev

  init = jnp.zeros((b, h, dk, dv), v.dtype) if state is None else state
  final, before = jax.lax.scan(carry, init, (kv, cross_decay))  # before[i] = R_{i-1}
  xi = _powers(gamma, np.arange(1, chunk_size + 1)).astype(q.dtype)  # (H, C)
  cross = jnp.einsum("nbhcd,nbhde->nbhce", qc, before) * xi[None, None, :, :, None]
  out = jnp.moveaxis(inner + cross, 0, 2).reshape(b, h, num_chunks * chunk_size, dv)
  return out[:, :, :length], final


def retention(q, k, v, gamma, mode: str = "parallel", chunk_size: int = 64, state=None):
  """Dispatches to one of the three forms; all return (outputs (B, H, L, d_v), final state)."""
  if mode == "parallel":
    return retention_parallel(q, k, v, gamma, state)
  if mode == "recurrent":
    return retention_recurrent(q, k, v, gamma, state)
  if mode == "chunkwise":
    return retention_chunkwise(q, k, v, gamma, chunk_size, state)
  raise ValueError(f"unknown retention mode {mode!r}; accepted: {', '.join(MODES)}")


def _decay_row_norm(gamma, positions):
  """sqrt(sum_{i <= n} gamma^i) = sqrt((1 - gamma^(n+1)) / (1 - gamma)) at absolute position n: (H, L)."""
  n1 = positions.astype(jnp.float32)[None, :] + 1.0
  return jnp.sqrt(-jnp.expm1(jnp.log(gamma)[:, None] * n1) / (1.0 - gamma)[:, None])


def retention_torchscale(q, k, v, gamma, mode: str, positions, state=None):
  """Retention with torchscale 0.3's score scalings (the paper's "retention score normalization", Sec. 2.2).

  Parallel: D-tilde_nm = D_nm / sqrt(sum_m D_nm), R = Q K^T * D-tilde, each row divided by max(|sum_m R_nm|, 1).
  Recurrent (torchscale's decoding): the state divided by sqrt(sum_i gamma^i), without the clamp. Both are
  positive per-row factors of the unscaled form (a following per-head norm cancels them up to its eps), so the
  state passed between calls stays the unscaled S. torchscale's chunkwise form scales chunk by chunk: not
  offered. `positions` (L,) are the absolute positions; in the parallel form the clamp sums this call's keys.
  """
  norm = _decay_row_norm(gamma, positions).astype(q.dtype)[None, :, :, None]  # (1, H, L, 1)
  if mode == "recurrent":
    out, state = retention_recurrent(q, k, v, gamma, state)
    return out / norm, state
  if mode != "parallel":
    raise ValueError(f"score_norm='torchscale' follows torchscale's parallel and recurrent forms; got mode {mode!r} "
                     "(accepted: 'parallel', 'recurrent'; or score_norm='none' for every form)")
  scores = jnp.einsum("bhnd,bhmd->bhnm", q, k) * decay_mask(gamma, q.shape[-2]).astype(q.dtype)
  out = _with_state(jnp.einsum("bhnm,bhme->bhne", scores, v), q, gamma, state) / norm
  clamp = jnp.maximum(jnp.abs(scores.sum(-1, keepdims=True) / norm), 1.0)
  return out / clamp, _final_state(k, v, gamma, state)
