"""RetNet (Sun et al. 2023, "Retentive Network: A Successor to Transformer"), after microsoft/torchscale.

Multi-scale retention (MSR) with its parallel, recurrent and chunkwise forms (archs/layers/retention.py),
the swish gate, per-head normalization and the xPos-like rotation; a pre-norm decoder with GLU FFNs.

Normalization variant (ARCHITECTURES.md, open point 3): **Jamie-Stirling's GroupNorm**. Retention is the
paper's unnormalized (Q K^T * D) V in all three forms, followed by a per-head GroupNorm (each head's d_v
channels normalized to zero mean, unit variance, eps 1e-6), without affine parameters as torchscale's
`group_norm` (elementwise_affine=False), so the parameter counts equal torchscale's. Why: torchscale's extra
scalings (D / sqrt(sum_m D_nm), the sum-of-|A| clamp, the first commit's running scales) are positive per-row
factors that the per-head norm cancels only up to its epsilon, and they differ between the forms; without
them the three forms compute one function, equal to float rounding before and after the norm, and the
state passed from one form to another is exact. The cost: un-normalized outputs grow up to 1/(1-gamma)
(at most 2^(4+H)), harmless in float32 and bfloat16 (both have float32's exponent range).
`head_norm='rms'` swaps the GroupNorm for torchscale HEAD's RMSNorm (still without its scalings).
`score_norm='torchscale'` adds torchscale 0.3's scalings (the paper's Sec. 2.2 "retention score normalization" names
the same three factors: the paper and torchscale agree on them; the default leaves them out for the reasons above)
in the parallel and recurrent forms; with head_norm='rms' it is torchscale's RetNetDecoder (archs.load_pretrained's
'torchscale' layout sets both).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from archs.layers.activations import swish
from archs.layers.ffn import FeedForward
from archs.layers.drop_path import dropped_residual
from archs.layers.initializers import torch_linear_kernel_init
from archs.layers.retention import MODES, SCORE_NORMS, retention, retention_decays, retention_torchscale, rotate
from archs.registry import register_model

# torchscale: xavier_uniform with gain 2^-2.5 (q, k, v, g) and 2^-1 (out); variance_scaling scale = gain^2.
_QKVG_INIT = nn.initializers.variance_scaling(2.0 ** -5, "fan_avg", "uniform")
_OUT_INIT = nn.initializers.variance_scaling(2.0 ** -2, "fan_avg", "uniform")


def head_norm(y, kind: str = "group", eps: float = 1e-6):
  """Per-head normalization without affine parameters, over each head's d_v channels of y (B, H, L, d_v).

  'group': GroupNorm with one group per head (paper, Jamie-Stirling; = torchscale first commit's LayerNorm).
  'rms': RMSNorm (torchscale HEAD).
  """
  y32 = y.astype(jnp.float32)
  if kind == "group":
    y32 = y32 - y32.mean(-1, keepdims=True)
  elif kind != "rms":
    raise ValueError(f"unknown head_norm {kind!r}; accepted: 'group', 'rms'")
  return (y32 * jax.lax.rsqrt(jnp.square(y32).mean(-1, keepdims=True) + eps)).astype(y.dtype)


class MultiScaleRetention(nn.Module):
  """MSR: out = W_o(swish(X W_G) * GroupNorm_h(Retention_h(X))), gamma_h = 1 - 2^(-5-h).

  Returns (out (B, L, dim), state (B, H, d_k, d_v) after the last token).
  """
  dim: int
  value_dim: int
  num_heads: int
  head_norm: str = "group"
  norm_eps: float = 1e-6
  dtype: jnp.dtype = jnp.float32
  score_norm: str = "none"  # 'torchscale': torchscale 0.3's per-row scalings (archs/layers/retention.py)

  @nn.compact
  def __call__(self, x, mode: str = "parallel", chunk_size: int = 64, state=None, offset=0):
    if self.score_norm not in SCORE_NORMS:
      raise ValueError(f"unknown score_norm {self.score_norm!r}; accepted: {', '.join(SCORE_NORMS)}")
    if self.dim % self.num_heads or self.value_dim % self.num_heads:
      raise ValueError(f"dim {self.dim} and value_dim {self.value_dim} must divide by num_heads {self.num_heads}")
    b, length, _ = x.shape
    h = self.num_heads
    dense = functools.partial(nn.Dense, use_bias=False, dtype=self.dtype, kernel_init=_QKVG_INIT)
    key_dim = self.dim // h

    def heads(a):  # (B, L, H*d) -> (B, H, L, d)
      return a.reshape(b, length, h, -1).transpose(0, 2, 1, 3)

    q = heads(dense(self.dim, name="q_proj")(x))
    k = heads(dense(self.dim, name="k_proj")(x)) * key_dim ** -0.5
    v = heads(dense(self.value_dim, name="v_proj")(x))
    g = dense(self.value_dim, name="g_proj")(x)
    positions = offset + jnp.arange(length)
    q, k = rotate(q, positions), rotate(k, positions)
    gamma = jnp.asarray(retention_decays(h), jnp.float32)
    if self.score_norm == "torchscale":
      y, state = retention_torchscale(q, k, v, gamma, mode, positions, state)
    else:
      y, state = retention(q, k, v, gamma, mode, chunk_size, state)
    y = head_norm(y, self.head_norm, self.norm_eps).transpose(0, 2, 1, 3).reshape(b, length, self.value_dim)
    out = nn.Dense(self.dim, use_bias=False, dtype=self.dtype, kernel_init=_OUT_INIT, name="out_proj")(swish(g) * y)
    return out, state


def _gated_ffn_kind(activation: str) -> str:
  """torchscale's GLU fc2(act(fc1 x) * gate x) is the shared gated FFN: GEGLU for gelu, SwiGLU for silu/swish."""
  kinds = {"gelu": "geglu", "silu": "swiglu", "swish": "swiglu"}
  if activation not in kinds:
    raise ValueError(f"unknown RetNet activation {activation!r}; accepted: {', '.join(kinds)}")
  return kinds[activation]


class RetNetBlock(nn.Module):
  """x + MSR(RMSNorm(x)); x + GLU(RMSNorm(x)) (torchscale RetNetDecoderLayer, pre-norm)."""
  dim: int
  value_dim: int
  ffn_dim: int
  num_heads: int
  activation: str = "gelu"
  head_norm: str = "group"
  norm_eps: float = 1e-6
  drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  score_norm: str = "none"

  @nn.compact
  def __call__(self, x, mode="parallel", chunk_size=64, state=None, offset=0, train=False):
    norm = functools.partial(nn.RMSNorm, epsilon=self.norm_eps, dtype=self.dtype)
    y, state = MultiScaleRetention(self.dim, self.value_dim, self.num_heads, self.head_norm, self.norm_eps,
                                   self.dtype, self.score_norm, name="retention")(
                                       norm(name="retention_norm")(x), mode, chunk_size, state, offset)

    residual = functools.partial(dropped_residual, drop_rate=self.drop_rate, drop_path_rate=self.drop_path_rate,
                                 train=train)

    x = residual(x, y)
    y = FeedForward(self.ffn_dim, kind=_gated_ffn_kind(self.activation), use_bias=False,
                    kernel_init=torch_linear_kernel_init, dtype=self.dtype, name="ffn")(norm(name="ffn_norm")(x))
    return residual(x, y), state


class RetNet(nn.Module):
  """RetNet language model: embedding, `depth` RetNet blocks, final RMSNorm, LM head (no bias).

  `apply(variables, tokens)` on int (B, L) returns float32 logits (B, L, vocab_size). Call keywords:
  `mode` ('parallel' for training, 'chunkwise' for long sequences, 'recurrent' = a scan over time),
  `chunk_size`, and for generation `state` (from `init_state` or a previous call) with `return_state=True`,
  which returns (logits, state). `decode_step` is the O(1)-per-token recurrent step.
  """
  vocab_size: int = 256
  dim: int = 512
  value_dim: int = 864
  ffn_dim: int = 864
  depth: int = 6
  num_heads: int = 2
  activation: str = "gelu"  # torchscale RetNetConfig default
  head_norm: str = "group"  # see the module docstring; 'rms' is torchscale HEAD's per-head norm
  norm_eps: float = 1e-6
  drop_rate: float = 0.0
  drop_path_rate: float = 0.0  # linearly increasing over the layers, as torchscale
  dtype: jnp.dtype = jnp.float32
  score_norm: str = "none"  # 'torchscale': torchscale 0.3's retention scalings (parallel and recurrent forms)

  def setup(self):
    # torchscale initializes both embedding and output projection with N(0, dim^-1/2); no embedding scale.
    init = nn.initializers.normal(self.dim ** -0.5)
    self.embed = nn.Embed(self.vocab_size, self.dim, embedding_init=init)
    rates = np.linspace(0.0, self.drop_path_rate, self.depth)
    self.blocks = [RetNetBlock(self.dim, self.value_dim, self.ffn_dim, self.num_heads, self.activation,
                               self.head_norm, self.norm_eps, self.drop_rate, float(rate), self.dtype,
                               self.score_norm)
                   for rate in rates]
    self.dropout = nn.Dropout(self.drop_rate)
    self.norm = nn.RMSNorm(epsilon=self.norm_eps, dtype=self.dtype)
    self.head = nn.Dense(self.vocab_size, use_bias=False, kernel_init=init, dtype=self.dtype)

  def __call__(self, tokens, *, mode: str = "parallel", chunk_size: int = 64, state=None,
               return_state: bool = False, train: bool = False):
    if tokens.ndim != 2:
      raise ValueError(f"tokens must be int (batch, length), got shape {tokens.shape}")
    if mode not in MODES:
      raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    offset = 0 if state is None else state["position"]
    layer_states = [None] * self.depth if state is None else state["retention"]
    x = self.dropout(self.embed(tokens).astype(self.dtype), deterministic=not train)
    new_states = []
    for block, layer_state in zip(self.blocks, layer_states):
      x, s = block(x, mode, chunk_size, layer_state, offset, train)
      new_states.append(s)
    logits = self.head(self.norm(x)).astype(jnp.float32)
    if not return_state:
      return logits
    return logits, {"position": jnp.asarray(offset + tokens.shape[1], jnp.int32), "retention": tuple(new_states)}

  def decode_step(self, token, state):
    """One token per sequence (B,) -> (logits (B, vocab_size), new state): O(1) time and memory per token."""
    logits, state = self(token[:, None], mode="recurrent", state=state, return_state=True)
    return logits[:, 0], state

  @nn.nowrap
  def init_state(self, batch_size: int, dtype=jnp.float32):
    """The state before the first token: position 0 and a zero (B, H, d_k, d_v) matrix per layer."""
    shape = (batch_size, self.num_heads, self.dim // self.num_heads, self.value_dim // self.num_heads)
    layers = tuple(jnp.zeros(shape, dtype) for _ in range(self.depth))
    return {"position": jnp.zeros((), jnp.int32), "retention": layers}


@register_model
def retnet_tiny(**kw) -> nn.Module:
  """A small RetNet for tests and quick runs: dim 64, value/FFN 128, 2 layers, 2 heads."""
  return RetNet(**{"dim": 64, "value_dim": 128, "ffn_dim": 128, "depth": 2, "num_heads": 2, **kw})


@register_model
def retnet_base(**kw) -> nn.Module:
  """torchscale/fairseq retnet_base: embed 512, value 864, FFN 864, 6 layers, 2 heads (key head dim 256)."""
  return RetNet(**{"dim": 512, "value_dim": 864, "ffn_dim": 864, "depth": 6, "num_heads": 2, **kw})
