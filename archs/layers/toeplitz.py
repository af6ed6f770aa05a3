"""Toeplitz neural operator (Qin et al. 2023, "Toeplitz Neural Network for Sequence Modeling", section 4).

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
