"""Position-wise feed-forward networks: FFN(x) = act(x W1 + b1) W2 + b2 (Vaswani et al. 2017, Eq. 2) and the
gated drop-ins of Shazeer 2020, "GLU Variants Improve Transformer": FFN_GLU(x) = (sigma(x W) * x V) W2,
FFN_SwiGLU(x) = (SiLU(x W) * x V) W2, FFN_GEGLU(x) = (GELU(x W) * x V) W2.

Gated kinds compute x W and x V with ONE fused Dense `wi` of 2*hidden_dim outputs whose two halves (a, b) go to
the gated activations of archs/layers/activations.py: glu(a, b) = a * sigmoid(b) (so a = x V, b = x W),
swiglu(a, b) = SiLU(a) * b and geglu(a, b) = GELU(a) * b (so a = x W, b = x V). Shazeer keeps the parameter count
equal to the classic FFN by shrinking hidden_dim to 2/3: that is the caller's choice of hidden_dim.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import ACTIVATIONS, get_activation

GATED_KINDS = ("glu", "swiglu", "geglu")


class FeedForward(nn.Module):
  """Dense(hidden) -> act -> dropout -> Dense(out). `kind`: any activation name of ACTIVATIONS ('relu', 'gelu'
  (exact erf), 'silu', ...) or a gated kind ('glu', 'swiglu', 'geglu').

  Parameters: ungated d h + h + h o + o; gated d 2h + 2h + h o + o (biases only with use_bias).
  `dropout_rate` acts on the hidden activations (t2t's relu_dropout); residual dropout belongs to the caller.
  """
  hidden_dim: int
  out_dim: int | None = None  # default: the input's feature size
  kind: str = "relu"
  use_bias: bool = True
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  kernel_init: nn.initializers.Initializer = nn.initializers.xavier_uniform()

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.kind not in ACTIVATIONS or self.kind in ("step",):
      raise ValueError(f"unknown FeedForward kind {self.kind!r}; accepted: "
                       f"{', '.join(k for k in ACTIVATIONS if k != 'step')}")
    act = get_activation(self.kind)
    gated = self.kind in GATED_KINDS
    dense = lambda n, name: nn.Dense(n, use_bias=self.use_bias, dtype=self.dtype, kernel_init=self.kernel_init,
                                     name=name)
    h = act(dense(2 * self.hidden_dim if gated else self.hidden_dim, "wi")(x))
    h = nn.Dropout(self.dropout_rate)(h, deterministic=not train)
    return dense(self.out_dim or x.shape[-1], "wo")(h)

