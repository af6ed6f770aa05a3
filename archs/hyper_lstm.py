"""Dynamic HyperNetwork: HyperLSTM (Ha, Dai and Le 2016, "HyperNetworks", section 3.2 and appendix A.2.2;
structure as labml hypernetworks/hyper_lstm.py).

A small layer-normalised LSTM (the hypernetwork) reads [h_{t-1}, x_t] and emits, per gate, embeddings
z_h, z_x, z_b; these give d_h, d_x (linear, no bias) and d_b (linear), which scale the ROWS of the main
LSTM's weights: W_h h becomes d_h(z_h) * (W_h h) (the memory-saving form of section 3.2), so the
main LSTM's weights change at every step. Each gate pre-activation is layer-normalised, and so is the
cell before the output tanh. Initialisation as labml: the main W_h, W_x start at zero.

Language-model contract: `model.apply(variables, tokens)` with tokens (B, L) int -> logits (B, L, vocab_size)
(embedding -> HyperLSTM layers, scanned over time -> linear), causal by construction.
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.registry import register_model


def _gate_norm(name, dtype):
  """One LayerNorm per gate over its features: scale and bias of shape (4, features)."""
  return nn.LayerNorm(epsilon=1e-5, reduction_axes=-1, feature_axes=(-2, -1), dtype=dtype, name=name)


def _lstm_update(gates, c, cell_norm):
  i, f, g, o = (gates[:, k] for k in range(4))
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return jax.nn.sigmoid(o) * jnp.tanh(cell_norm(c)), c


class PerGateLinear(nn.Module):
  """Four independent linear maps, one per gate: (B, 4, in) -> (B, 4, features)."""
  features: int
  use_bias: bool
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z):
    init = nn.initializers.variance_scaling(1.0, "fan_in", "normal", in_axis=-2, out_axis=-1, batch_axis=(0,))
    kernel = self.param("kernel", init, (4, z.shape[-1], self.features))
    y = jnp.einsum("bgz,gzh->bgh", z.astype(self.dtype), kernel.astype(self.dtype))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (4, self.features)).astype(self.dtype)
    return y


class LayerNormLSTMCell(nn.Module):
  """labml LSTMCell(layer_norm=True): gates LN(W_h h + b + W_x x), h = s(o) tanh(LN(c))."""
  hidden_size: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, h, c):
    dense = functools.partial(nn.Dense, 4 * self.hidden_size, dtype=self.dtype)
    gates = dense(name="hidden_lin")(h) + dense(use_bias=False, name="input_lin")(x)
    gates = _gate_norm("gate_norm", self.dtype)(gates.reshape(-1, 4, self.hidden_size))
    return _lstm_update(gates, c, nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="cell_norm"))


class HyperLSTMCell(nn.Module):
  """One HyperLSTM step; carry = (h, c, h_hat, c_hat)."""
  hidden_size: int
  hyper_size: int
  n_z: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, carry, x):
    h, c, h_hat, c_hat = carry
    hidden, n_z, batch, dtype = self.hidden_size, self.n_z, x.shape[0], self.dtype
    h_hat, c_hat = LayerNormLSTMCell(self.hyper_size, dtype, name="hyper")(jnp.concatenate([h, x], -1), h_hat,
                                                                            c_hat)
    z = lambda name, bias=True: nn.Dense(4 * n_z, use_bias=bias, dtype=dtype, name=name)(h_hat).reshape(batch, 4, n_z)
    d_h = PerGateLinear(hidden, use_bias=False, dtype=dtype, name="d_h")(z("z_h"))
    d_x = PerGateLinear(hidden, use_bias=False, dtype=dtype, name="d_x")(z("z_x"))
    d_b = PerGateLinear(hidden, use_bias=True, dtype=dtype, name="d_b")(z("z_b", bias=False))
    w_h = self.param("w_h", nn.initializers.zeros, (4, hidden, hidden)).astype(dtype)
    w_x = self.param("w_x", nn.initializers.zeros, (4, x.shape[-1], hidden)).astype(dtype)
    gates = (d_h * jnp.einsum("bj,gjh->bgh", h, w_h) + d_x * jnp.einsum("bj,gjh->bgh", x, w_x) + d_b)
    h, c = _lstm_update(_gate_norm("gate_norm", dtype)(gates), c,
                        nn.LayerNorm(epsilon=1e-5, dtype=dtype, name="cell_norm"))
    return (h, c.astype(dtype), h_hat, c_hat.astype(dtype)), h


class HyperLSTMLM(nn.Module):
  """Embedding -> num_layers HyperLSTM layers -> linear to vocabulary logits."""
  vocab_size: int = 256
  hidden_size: int = 64
  hyper_size: int = 16
  n_z: int = 16
  num_layers: int = 1
  dtype: Any = jnp.float32  # compute dtype; parameters stay float32

  @nn.compact
  def __call__(self, tokens, *, train: bool = False):
    if tokens.ndim != 2:
      raise ValueError(f"tokens of shape {tokens.shape}; accepted: (batch, length) integer ids")
    x = nn.Embed(self.vocab_size, self.hidden_size, embedding_init=nn.initializers.normal(1.0),
                 dtype=self.dtype, name="embed")(tokens)
    batch = tokens.shape[0]
    scan = nn.scan(HyperLSTMCell, variable_broadcast="params", split_rngs={"params": False},
                   in_axes=1, out_axes=1)
    for layer in range(self.num_layers):
      zeros = lambda n: jnp.zeros((batch, n), x.dtype)
      carry = (zeros(self.hidden_size), zeros(self.hidden_size), zeros(self.hyper_size), zeros(self.hyper_size))
      _, x = scan(self.hidden_size, self.hyper_size, self.n_z, self.dtype, name=f"layer_{layer}")(carry, x)
    return nn.Dense(self.vocab_size, dtype=self.dtype, name="head")(x).astype(jnp.float32)


# labml's experiment (Shakespeare characters): d_model 512, hyper 16, n_z 16, one layer.
register_model(functools.partial(HyperLSTMLM, hidden_size=512, hyper_size=16, n_z=16), name="hyper_lstm")
register_model(functools.partial(HyperLSTMLM, hidden_size=64, hyper_size=16, n_z=16), name="hyper_lstm_tiny")
