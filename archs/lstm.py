"""LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000) and the word-level language model
of Zaremba et al. 2014, "Recurrent Neural Network Regularization" (dropout on non-recurrent connections only).

Cell, with [i, f, g, o] = x W_x + b_x + h_{t-1} W_h (+ b_h):
  i = sigmoid(.), f = sigmoid(.), g = tanh(.), o = sigmoid(.);  c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t).
Two biases as in Zaremba's Torch code (i2h and h2h nn.Linear) and PyTorch's nn.LSTM: 4H (I + H) + 8H parameters
per layer; `recurrent_bias=False` drops b_h (4H (I + H) + 4H). Weights and biases ~ U(-init_scale, init_scale)
(Zaremba); `forget_bias` is added to the initial forget-gate bias (1.0: Gers et al. / Jozefowicz et al. 2015).
The time loop is `nn.RNN`, i.e. `jax.lax.scan`: the program does not grow with the sequence length. With
`remat_steps` (default) each step is rematerialized in the backward pass (`nn.remat` of the cell): the scan stores
only the carry and input of each step instead of 13 per-step activations per layer, which on XLA:CPU are
zero-filled, page-faulted and written every call (lstm_tiny's gradient: 52 -> 37 ms of CPU time, BENCHMARKS.md).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.registry import register_model


def _uniform(scale):
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale)


class LSTMCell(nn.RNNCellBase):
  """One LSTM step: `cell((c, h), x) -> ((c, h), h)`. Gate order in the kernels: input, forget, cell, output."""
  features: int
  init_scale: float = 0.05
  forget_bias: float = 0.0
  recurrent_bias: bool = True
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, carry, x):
    c, h = carry
    hidden = self.features

    def bias_init(key, shape, dtype=jnp.float32):
      forget = jnp.zeros(shape, dtype).at[hidden:2 * hidden].set(self.forget_bias)
      return _uniform(self.init_scale)(key, shape, dtype) + forget

    dense = functools.partial(nn.Dense, 4 * hidden, dtype=self.dtype, kernel_init=_uniform(self.init_scale))
    gates = dense(bias_init=bias_init, name="input")(x)
    gates = gates + dense(use_bias=self.recurrent_bias, bias_init=_uniform(self.init_scale), name="hidden")(h)
    i, f, g, o = jnp.split(gates.astype(jnp.float32), 4, axis=-1)  # gate math in float32
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h.astype(self.dtype)

  @nn.nowrap
  def initialize_carry(self, rng, input_shape):
    zeros = jnp.zeros((*input_shape[:-1], self.features), jnp.float32)
    return zeros, zeros

  @property
  def num_feature_axes(self) -> int:
    return 1


class StackedLSTM(nn.Module):
  """num_layers LSTMs over (B, L, D) -> (B, L, H), dropout on each layer's input and on the last output (Zaremba:
  non-recurrent connections only). `initial_state`: per layer (c, h), default zeros.
  Returns the outputs and the final (c, h) of every layer."""
  features: int
  num_layers: int
  dropout_rate: float = 0.0
  init_scale: float = 0.05
  forget_bias: float = 0.0
  recurrent_bias: bool = True
  dtype: jnp.dtype = jnp.float32
  remat_steps: bool = True  # recompute each step in the backward pass (same numbers, less memory traffic)

  @nn.compact
  def __call__(self, x, initial_state=None, train: bool = False):
    if initial_state is not None and len(initial_state) != self.num_layers:
      raise ValueError(f"initial_state needs one (c, h) per layer ({self.num_layers}); got {len(initial_state)}")
    states = []
    cell_type = nn.remat(LSTMCell, prevent_cse=False) if self.remat_steps else LSTMCell  # no CSE to stop in a scan
    for layer in range(self.num_layers):
      x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
      cell = cell_type(self.features, self.init_scale, self.forget_bias, self.recurrent_bias, self.dtype,
                      name=f"layer_{layer}")
      carry = None if initial_state is None else initial_state[layer]
      state, x = nn.RNN(cell, return_carry=True)(x, initial_carry=carry)
      states.append(state)
    return nn.Dropout(self.dropout_rate)(x, deterministic=not train), tuple(states)


class LSTMLanguageModel(nn.Module):
  """Embedding -> StackedLSTM -> Dense(vocab): `apply(variables, tokens (B, L), train=False)` -> logits (B, L, V).
  `return_state=True` also returns the final (c, h) per layer, to carry into the next segment (truncated BPTT).
  Defaults: Zaremba et al.'s medium model (2 x 650, dropout 0.5, U(-0.05, 0.05), 10k PTB vocabulary)."""
  vocab_size: int = 10000
  hidden_size: int = 650
  num_layers: int = 2
  dropout_rate: float = 0.5
  init_scale: float = 0.05
  forget_bias: float = 0.0
  recurrent_bias: bool = True
  tie_embeddings: bool = False  # Press & Wolf 2017; Zaremba unties
  dtype: jnp.dtype = jnp.float32
  remat_steps: bool = True  # see StackedLSTM

  @nn.compact
  def __call__(self, tokens, initial_state=None, *, train: bool = False, return_state: bool = False):
    embed = nn.Embed(self.vocab_size, self.hidden_size, embedding_init=_uniform(self.init_scale), dtype=self.dtype,
                     name="embedding")
    lstm = StackedLSTM(self.hidden_size, self.num_layers, self.dropout_rate, self.init_scale, self.forget_bias,
                       self.recurrent_bias, self.dtype, self.remat_steps, name="lstm")
    x, state = lstm(embed(tokens), initial_state, train=train)
    if self.tie_embeddings:
      logits = embed.attend(x)
    else:
      logits = nn.Dense(self.vocab_size, dtype=self.dtype, kernel_init=_uniform(self.init_scale),
                        bias_init=_uniform(self.init_scale), name="output")(x)
    logits = logits.astype(jnp.float32)
    return (logits, state) if return_state else logits


register_model(functools.partial(LSTMLanguageModel, vocab_size=256, hidden_size=64, num_layers=2, dropout_rate=0.0,
                                 init_scale=0.1), name="lstm_tiny")
register_model(functools.partial(LSTMLanguageModel), name="lstm_base")  # Zaremba medium
register_model(functools.partial(LSTMLanguageModel, hidden_size=1500, dropout_rate=0.65, init_scale=0.04),
               name="lstm_large")  # Zaremba large
