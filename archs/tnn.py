"""Toeplitz Neural Network (Qin et al. 2023), after Doraemonzzz/tnn-pytorch (gtu.py, glu.py, tnn_layer.py).

TnnLayer: x + GTU(norm(x)); x + GLU(norm(x)), norms SimpleRMSNorm (no parameters).
GTU: u = SiLU(W_u x), v = SiLU(W_v x), o = W_o(u * TNO(v)), width d1 = floor(expand d / h) h, linears with bias.
The language model is causal (the TNO's future half is zero).
`toeplitz='ski'` (bidirectional only, causal=False) replaces the FFT operator by archs.layers.toeplitz.SkiTno:
a learned band of half-width `ski_band` plus the RPE kernel at `ski_rank` inducing points, linearly interpolated
(Moreno, Mei & Walters 2023, "SKI to go Faster"). Their causal variant (an RPE in the frequency domain with a Hilbert
transform) is not implemented.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import get_activation
from archs.layers.drop_path import dropped_residual
from archs.layers.ffn import FeedForward
from archs.layers.initializers import torch_linear_kernel_init
from archs.layers.toeplitz import SkiTno, Tno, simple_rms_norm
from archs.registry import register_model

# torch.nn.Linear's default weight init; biases start at zero here (torch: U(+-1/sqrt(fan_in))).
_dense = functools.partial(nn.Dense, kernel_init=torch_linear_kernel_init)
TOEPLITZ = ("fft", "ski")


class Gtu(nn.Module):
  """Gated Toeplitz unit: o = W_o(SiLU(W_u x) * TNO(SiLU(W_v x)))."""
  dim: int
  num_heads: int = 1
  expand_ratio: float = 3.0
  rpe_dim: int = 64
  rpe_layers: int = 3
  causal: bool = True
  decay: float | None = 0.99
  activation: str = "silu"
  dtype: jnp.dtype = jnp.float32
  toeplitz: str = "fft"  # 'fft' (dense TNO) | 'ski' (sparse + low-rank, bidirectional)
  ski_rank: int = 64
  ski_band: int = 4

  @nn.compact
  def __call__(self, x):
    if self.toeplitz not in TOEPLITZ:
      raise ValueError(f"toeplitz={self.toeplitz!r}; accepted: {', '.join(TOEPLITZ)}")
    if self.toeplitz == "ski" and self.causal:
      raise ValueError("toeplitz='ski' is bidirectional only; got causal=True (use causal=False)")
    d1 = int(self.expand_ratio * self.dim) // self.num_heads * self.num_heads
    act = get_activation(self.activation)
    u = act(_dense(d1, dtype=self.dtype, name="u_proj")(x))
    v = act(_dense(d1, dtype=self.dtype, name="v_proj")(x))
    # The RPE emits h * (d1 / h) = d1 coefficients per index, laid out (h, d) like v's channels:
    # a per-head operator is a per-channel one, so heads need no reshaping.
    if self.toeplitz == "ski":
      v = SkiTno(d1, self.rpe_dim, self.rpe_layers, self.ski_rank, self.ski_band, self.decay, name="toep")(v)
    else:
      v = Tno(d1, self.rpe_dim, self.rpe_layers, self.causal, self.decay, name="toep")(v)
    return _dense(self.dim, dtype=self.dtype, name="o")(u * v)


class TnnLayer(nn.Module):
  """x + GTU(SimpleRMSNorm(x)); x + GLU(SimpleRMSNorm(x))."""
  dim: int
  num_heads: int = 1
  rpe_dim: int = 64
  rpe_layers: int = 3
  glu_dim: int = 512
  expand_ratio: float = 3.0
  causal: bool = True
  decay: float | None = 0.99
  drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  toeplitz: str = "fft"
  ski_rank: int = 64
  ski_band: int = 4

  @nn.compact
  def __call__(self, x, train: bool = False):
    residual = functools.partial(dropped_residual, drop_rate=self.drop_rate, drop_path_rate=self.drop_path_rate,
                                 train=train)

    y = Gtu(self.dim, self.num_heads, self.expand_ratio, self.rpe_dim, self.rpe_layers, self.causal, self.decay,
            dtype=self.dtype, toeplitz=self.toeplitz, ski_rank=self.ski_rank, ski_band=self.ski_band,
            name="token_mixer")(simple_rms_norm(x))
    x = residual(x, y)
    # tnn-pytorch's GLU l3(SiLU(l1 x) * l2 x), with biases, is the shared SwiGLU FFN.
    y = FeedForward(self.glu_dim, kind="swiglu", kernel_init=torch_linear_kernel_init, dtype=self.dtype,
                    name="feature_mixer")(simple_rms_norm(x))
    return residual(x, y)


class Tnn(nn.Module):
  """TNN language model: embedding, `depth` causal TnnLayers, final SimpleRMSNorm, LM head (no bias).

  `apply(variables, tokens)` on int (B, L) returns float32 logits (B, L, vocab_size).
  `decay` 0.99 by default; the README recommends 0.9 for sequences shorter than ~100 tokens.
  """
  vocab_size: int = 256
  dim: int = 512
  depth: int = 6
  num_heads: int = 1
  rpe_dim: int = 64
  rpe_layers: int = 6
  glu_dim: int = 512
  expand_ratio: float = 3.0
  causal: bool = True
  decay: float | None = 0.99
  drop_rate: float = 0.0
  drop_path_rate: float = 0.0  # linearly increasing over the layers
  dtype: jnp.dtype = jnp.float32
  toeplitz: str = "fft"  # 'ski': sparse + low-rank operator, with causal=False (module docstring)
  ski_rank: int = 64
  ski_band: int = 4

  @nn.compact
  def __call__(self, tokens, *, train: bool = False):
    if tokens.ndim != 2:
      raise ValueError(f"tokens must be int (batch, length), got shape {tokens.shape}")
    x = nn.Embed(self.vocab_size, self.dim, embedding_init=nn.initializers.normal(self.dim ** -0.5),
                 name="embed")(tokens).astype(self.dtype)
    x = nn.Dropout(self.drop_rate)(x, deterministic=not train)
    for i, rate in enumerate(np.linspace(0.0, self.drop_path_rate, self.depth)):
      x = TnnLayer(self.dim, self.num_heads, self.rpe_dim, self.rpe_layers, self.glu_dim, self.expand_ratio,
                   self.causal, self.decay, self.drop_rate, float(rate), self.dtype, self.toeplitz, self.ski_rank,
                   self.ski_band, name=f"layers_{i}")(x, train)
    x = simple_rms_norm(x)
    return nn.Dense(self.vocab_size, use_bias=False, dtype=self.dtype, name="head")(x).astype(jnp.float32)


@register_model
def tnn_tiny(**kw) -> nn.Module:
  """A small causal TNN for tests: dim 64, 2 layers, 1 head, RPE 32 x 1 layer, GLU 64."""
  return Tnn(**{"dim": 64, "depth": 2, "num_heads": 1, "rpe_dim": 32, "rpe_layers": 1, "glu_dim": 64, **kw})


@register_model
def tnn_base(**kw) -> nn.Module:
  """README-default-like LM: dim 512, 6 layers, 1 head, expand 3, RPE 64 x 6 layers, GLU 512, decay 0.99."""
  return Tnn(**{"dim": 512, "depth": 6, "num_heads": 1, "rpe_dim": 64, "rpe_layers": 6, "glu_dim": 512, **kw})
