"""Toeplitz neural operator (Qin et al. 2023, "Toeplitz Neural Network for Sequence Modeling", section 4), and its
sparse + low-rank SKI form (SkiTno; Moreno, Mei & Walters 2023) for bidirectional models.

After Doraemonzzz/tnn-pytorch (rpe.py, tno.py): a small MLP (the RPE) maps each relative index k to
per-channel coefficients t_k, damped by a fixed lambda^|k|; the sequence is then mixed by the Toeplitz matrix
T_ij = t_{i-j} in O(n log n) with an FFT of length 2n.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import get_activation


def simple_rms_norm(x, eps: float = 1e-8):
  """tnn-pytorch SimpleRMSNorm: x / (||x||_2 d^-1/2 + eps), no parameters (eps added to the rms, not inside)."""
  # ||x|| written so that its gradient at x = 0 is 0 (as torch.norm's), not NaN: the RPE's input layer maps
  # index 0 to exactly 0 while its bias is zero, and jnp.linalg.norm's gradient there poisoned every step.
  squares = jnp.sum(jnp.square(x), axis=-1, keepdims=True)
  norm = jnp.where(squares > 0, jnp.sqrt(jnp.where(squares > 0, squares, 1.0)), 0.0)
  return x / (norm * x.shape[-1] ** -0.5 + eps)


def toeplitz_product(x, t_nonneg, t_neg=None):
  """y_i = sum_j t_{i-j} x_j along axis -2, per channel, by FFT in O(n log n).

  x (..., n, c); t_nonneg (n, c) holds t_0 .. t_{n-1}; t_neg (n-1, c) holds t_{-1} .. t_{-(n-1)}, or None
  for the causal product (t_k = 0 for k < 0). The circulant embedding of length 2n is
  a = [t_0, t_1 .. t_{n-1}, 0, t_{-(n-1)} .. t_{-1}] (the reference puts t_0 in the unused middle slot):
  y = irfft(rfft(a) * rfft(x, 2n))[:n].
  """
  n, c = x.shape[-2], x.shape[-1]
  if t_nonneg.shape != (n, c):
    raise ValueError(f"t_nonneg must have shape {(n, c)} (t_0..t_(n-1) per channel), got {t_nonneg.shape}")
  if t_neg is None:
    tail = jnp.zeros((n, c), t_nonneg.dtype)
  else:
    if t_neg.shape != (n - 1, c):
      raise ValueError(f"t_neg must have shape {(n - 1, c)} (t_-1..t_-(n-1) per channel), got {t_neg.shape}")
    tail = jnp.concatenate([jnp.zeros((1, c), t_neg.dtype), t_neg[::-1]], axis=0)
  dtype = jnp.promote_types(x.dtype, jnp.float32)  # FFTs in at least float32, also under bfloat16 compute
  a = jnp.concatenate([t_nonneg, tail], axis=0).astype(dtype)
  spectrum = jnp.fft.rfft(a, 2 * n, axis=0) * jnp.fft.rfft(x.astype(dtype), 2 * n, axis=-2)
  return jnp.fft.irfft(spectrum, 2 * n, axis=-2)[..., :n, :].astype(x.dtype)


class Rpe(nn.Module):
  """Relative position encoder: Linear(1 -> r); `num_layers` x [norm, act, Linear(r -> r)]; norm, act, Linear(r -> out).

  Input: the relative indices k as floats (tnn-pytorch par_type 1), shape (m,); output (m, out_dim).
  """
  features: int
  out_dim: int
  num_layers: int = 3
  activation: str = "relu"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, index):
    act = get_activation(self.activation)
    x = nn.Dense(self.features, dtype=self.dtype, name="pos_proj")(index[:, None].astype(self.dtype))
    for i in range(self.num_layers):
      x = nn.Dense(self.features, dtype=self.dtype, name=f"layers_{i}")(act(simple_rms_norm(x)))
    return nn.Dense(self.out_dim, dtype=self.dtype, name="out")(act(simple_rms_norm(x)))


class Tno(nn.Module):
  """Toeplitz neural operator: t_0 = RPE(0), t_k = lambda^|k| RPE(k); y = T x along the sequence (axis -2).

  `decay` lambda is a fixed constant (tnn-pytorch use_decay: a requires_grad=False tensor), computed on the
  fly here so that it never appears among the trainable 'params'. `decay=None` disables it.
  """
  channels: int
  rpe_dim: int
  rpe_layers: int = 3
  causal: bool = True
  decay: float | None = 0.99
  activation: str = "relu"

  @nn.compact
  def __call__(self, x):
    n = x.shape[-2]
    # The RPE stays in float32 whatever x's dtype: bfloat16 cannot even represent indices past 256 exactly.
    rpe = Rpe(self.rpe_dim, self.channels, self.rpe_layers, self.activation, jnp.float32, name="rpe")
    k = np.arange(1, n, dtype=np.float32)
    index = np.concatenate([[0.0], k] + ([] if self.causal else [-k]))
    coef = rpe(jnp.asarray(index))  # t_0, t_1..t_{n-1}[, t_-1..t_-(n-1)]
    if self.decay is not None:
      damp = np.concatenate([[1.0], self.decay ** k] + ([] if self.causal else [self.decay ** k]))
      coef = coef * jnp.asarray(damp, jnp.float32)[:, None]  # lambda^|k|
    t_neg = None if self.causal else coef[n:]
    return toeplitz_product(x, coef[:n], t_neg)


# ---------------------------------------------------------------- SKI: sparse + low-rank (bidirectional)

def interpolation_weights(n: int, rank: int):
  """(index (n,), frac (n,)): position i lies between inducing points index_i and index_i + 1 of `rank` evenly
  spaced over [0, n-1], with linear weights 1 - frac_i and frac_i (a row of SKI's W: two non-zeros summing to 1)."""
  u = np.linspace(0.0, n - 1.0, rank)
  pos = np.arange(n, dtype=np.float64)
  index = np.clip(np.searchsorted(u, pos, side="right") - 1, 0, rank - 2)
  return index, (pos - u[index]) / (u[index + 1] - u[index])


def interpolation_matrix(n: int, rank: int):
  """SKI's W (n, rank) as a dense array (tests; the layer applies it by gather and scatter-add)."""
  index, frac = interpolation_weights(n, rank)
  w = np.zeros((n, rank))
  w[np.arange(n), index], w[np.arange(n), index + 1] = 1.0 - frac, frac
  return w


def banded_product(x, band):
  """y_i = sum_{|k| <= w} s_k x_{i-k} along axis -2 per channel (a small 1D convolution); band (2w+1, c) = s_-w..s_w."""
  n, w = x.shape[-2], (band.shape[0] - 1) // 2
  padded = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(w, w), (0, 0)])
  return sum(band[k + w] * padded[..., w - k:w - k + n, :] for k in range(-w, w + 1))


class SkiTno(nn.Module):
  """Bidirectional TNO as sparse + low-rank (Moreno, Mei & Walters 2023, "SKI to go Faster", Sec. 3):
  T ~ S + W K W^T. S: learned band t_k, |k| <= band (a 1D convolution, the spiky near-diagonal part);
  K (rank x rank): the decayed RPE kernel at differences of `rank` evenly spaced inducing points, an asymmetric
  (non-SPD) kernel since t_k != t_-k; W: linear interpolation onto the inducing points (Structured Kernel
  Interpolation, Wilson & Nickisch 2015), applied in O(n). O(n (band + 1) + rank^2) per channel, 2 rank - 1 RPE calls.
  With rank = n and no band it is the dense Tno exactly (same 'rpe' parameters)."""
  channels: int
  rpe_dim: int
  rpe_layers: int = 3
  rank: int = 64
  band: int = 4
  decay: float | None = 0.99
  activation: str = "relu"

  def setup(self):
    if self.rank < 2 or self.band < 0:
      raise ValueError(f"SkiTno: rank={self.rank!r} (accepted: >= 2), band={self.band!r} (accepted: >= 0)")
    self.rpe = Rpe(self.rpe_dim, self.channels, self.rpe_layers, self.activation, jnp.float32)
    self.band_coef = self.param("band", nn.initializers.zeros, (2 * self.band + 1, self.channels))

  def inducing_kernel(self, n: int):
    """K (r, r, c) with K_ab = lambda^|d| RPE(d), d = u_a - u_b, r = min(rank, n)."""
    r = min(self.rank, n)
    offsets = np.arange(-(r - 1), r) * (n - 1.0) / (r - 1)  # the 2r - 1 distinct differences of a regular grid
    coef = self.rpe(jnp.asarray(offsets, jnp.float32))
    if self.decay is not None:
      coef = coef * jnp.asarray(self.decay ** np.abs(offsets), jnp.float32)[:, None]
    a = np.arange(r)
    return coef[a[:, None] - a[None, :] + r - 1]

  def __call__(self, x):
    n = x.shape[-2]
    kernel = self.inducing_kernel(n)
    index, frac = interpolation_weights(n, kernel.shape[0])
    frac = jnp.asarray(frac, jnp.float32)[:, None]
    xf = x.astype(jnp.float32)
    z = jnp.zeros(x.shape[:-2] + (kernel.shape[0], x.shape[-1]), jnp.float32)  # W^T x by scatter-add
    z = z.at[..., index, :].add((1.0 - frac) * xf).at[..., index + 1, :].add(frac * xf)
    z = jnp.einsum("abc,...bc->...ac", kernel, z)
    low_rank = (1.0 - frac) * z[..., index, :] + frac * z[..., index + 1, :]  # W z by gather
    return (low_rank + banded_product(xf, self.band_coef)).astype(x.dtype)

  def matrix(self, n: int):
    """The dense (n, n, c) operator this layer applies: W K W^T + the banded Toeplitz S (for tests)."""
    w = jnp.asarray(interpolation_matrix(n, min(self.rank, n)), jnp.float32)
    dense = jnp.einsum("ia,abc,jb->ijc", w, self.inducing_kernel(n), w)
    k = np.arange(n)[:, None] - np.arange(n)[None, :]
    in_band = jnp.asarray(np.abs(k) <= self.band)[..., None]
    return dense + jnp.where(in_band, self.band_coef[np.clip(k + self.band, 0, 2 * self.band)], 0.0)
