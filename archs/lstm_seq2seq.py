"""LSTM encoder-decoder (Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural Networks").

An encoder LSTM stack reads the source; its final (c, h) per layer initialise a decoder LSTM stack of the same
shape, which reads the target shifted right (teacher forcing) and feeds a softmax over the target vocabulary.
No attention: the whole source passes through the final states. Paper model (Sec. 3.4): 4 layers of 1000 cells,
1000-dim word embeddings, 160k source / 80k target vocabulary, U(-0.08, 0.08) init, the source read in reverse
(Sec. 3.3: it shortens the distance between the first source and first target words). The paper gives "384M
parameters"; with archs/lstm.py's cells (two biases per gate, as PyTorch's nn.LSTM) and a bias on the softmax this
is 384,144,000 exactly (one bias per gate: recurrent_bias=False, 384,112,000).

Attention (`attention=`), over the top encoder layer's outputs h_j, padding masked; the decoder still starts from
the encoder's final states:
- 'bahdanau' (Bahdanau, Cho & Bengio 2015, additive, App. A.1.2): e_ij = v^T tanh(W s_{i-1} + U h_j) with the top
  decoder state s_{i-1} before the step; the context c_i joins the embedding y_{i-1} at the first decoder layer and
  the output layer reads [s_i; c_i] (a plain softmax layer where the paper has a maxout one; unidirectional encoder).
- 'luong' (Luong, Pham & Manning 2015, multiplicative "general", Eq. 5-8): score = s_i^T W h_j with the state after
  the step, h~_i = tanh(W_c [c_i; s_i]) feeds the softmax; no input feeding (Sec. 3.3), so it runs over all steps
  at once.
The attention weights (B, Lt, Ls) are sown as 'intermediates'/'attention_weights' (apply with
mutable=['intermediates']).

Source padding (pad_id, right padding) is skipped: the encoder's final state is taken at each row's last real
token, and `reverse_source` reverses the real tokens only. `encode` / `decode_logits` are the interface of
archs/decoding.py (greedy and beam search).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.lstm import LSTMCell
from archs.registry import register_model


def _uniform(scale):
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale)


ATTENTION = (None, "bahdanau", "luong")


def masked_softmax(scores, mask):
  """softmax over the last axis of (B, ..., Ls) scores, zero where mask (B, Ls) is False (float32)."""
  mask = mask.reshape(mask.shape[:1] + (1,) * (scores.ndim - 2) + mask.shape[1:])
  return jax.nn.softmax(jnp.where(mask, scores.astype(jnp.float32), jnp.finfo(jnp.float32).min), axis=-1)


class BahdanauDecoderStep(nn.Module):
  """One decoder step with additive attention: (states, y_{i-1}) -> (states, ([s_i; c_i], weights)).
  `keys` = U h_j (B, Ls, H) are projected once per call, outside the time loop."""
  hidden_size: int
  num_layers: int
  init_scale: float
  recurrent_bias: bool
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, states, y, keys, values, mask):
    dense = functools.partial(nn.Dense, self.hidden_size, use_bias=False, dtype=self.dtype,
                              kernel_init=_uniform(self.init_scale))
    query = dense(name="query")(states[-1][1])  # W s_{i-1}
    scores = nn.Dense(1, use_bias=False, dtype=self.dtype, kernel_init=_uniform(self.init_scale), name="score")(
        jnp.tanh(query[:, None, :] + keys))[..., 0]
    weights = masked_softmax(scores, mask)
    context = jnp.einsum("bs,bsh->bh", weights.astype(values.dtype), values)
    x, new_states = jnp.concatenate([y, context], axis=-1), []
    for i, state in enumerate(states):
      state, x = LSTMCell(self.hidden_size, self.init_scale, recurrent_bias=self.recurrent_bias, dtype=self.dtype,
                          name=f"cell_{i}")(state, x)
      new_states.append(state)
    return tuple(new_states), (jnp.concatenate([x, context], axis=-1), weights)


def reverse_real_tokens(tokens, lengths):
  """Each row's first `lengths` tokens reversed, the padding after them left in place."""
  pos = jnp.arange(tokens.shape[1])[None, :]
  index = jnp.where(pos < lengths[:, None], lengths[:, None] - 1 - pos, pos)
  return jnp.take_along_axis(tokens, index, axis=1)


class LSTMSeq2Seq(nn.Module):
  """`apply(variables, src (B, Ls), tgt_in (B, Lt), train=False)` -> logits (B, Lt, vocab_size), float32.
  Defaults are the paper's model; `src_vocab_size=None` shares the target vocabulary's size (one token space,
  two embedding matrices)."""
  vocab_size: int = 80000  # target vocabulary (the output size)
  src_vocab_size: int | None = 160000
  embed_dim: int = 1000
  hidden_size: int = 1000
  num_layers: int = 4
  reverse_source: bool = True
  dropout_rate: float = 0.0  # on non-recurrent connections (Zaremba et al. 2014); the paper used none
  init_scale: float = 0.08
  recurrent_bias: bool = True
  attention: str | None = None  # None | 'bahdanau' | 'luong' (module docstring)
  pad_id: int | None = 0
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    if self.num_layers < 1:
      raise ValueError(f"LSTMSeq2Seq: num_layers must be >= 1; got {self.num_layers}")
    if self.attention not in ATTENTION:
      raise ValueError(f"LSTMSeq2Seq: attention={self.attention!r}; accepted: {', '.join(map(repr, ATTENTION))}")
    embed = functools.partial(nn.Embed, features=self.embed_dim, embedding_init=_uniform(self.init_scale),
                              dtype=self.dtype)
    self.src_embedding = embed(self.src_vocab_size or self.vocab_size)
    self.tgt_embedding = embed(self.vocab_size)
    cell = functools.partial(LSTMCell, self.hidden_size, self.init_scale, recurrent_bias=self.recurrent_bias,
                             dtype=self.dtype)
    self.encoder = [nn.RNN(cell(), return_carry=True) for _ in range(self.num_layers)]
    self.decoder = [nn.RNN(cell(), return_carry=True) for _ in range(self.num_layers)]
    projection = functools.partial(nn.Dense, self.hidden_size, use_bias=False, dtype=self.dtype,
                                   kernel_init=_uniform(self.init_scale))
    if self.attention is not None:
      self.memory_projection = projection()  # Bahdanau's U, Luong's W_a: h_j projected once per source
    if self.attention == "bahdanau":
      step = nn.scan(BahdanauDecoderStep, variable_broadcast="params", split_rngs={"params": False},
                     in_axes=(1, nn.broadcast, nn.broadcast, nn.broadcast), out_axes=1)
      self.attentive_decoder = step(self.hidden_size, self.num_layers, self.init_scale, self.recurrent_bias,
                                    self.dtype)
    if self.attention == "luong":
      self.combine = projection()  # W_c
    self.output = nn.Dense(self.vocab_size, dtype=self.dtype, kernel_init=_uniform(self.init_scale),
                           bias_init=_uniform(self.init_scale))
    self.dropout = nn.Dropout(self.dropout_rate)

  def _lengths(self, src):
    if self.pad_id is None:
      return jnp.full((src.shape[0],), src.shape[1], jnp.int32)
    return (src != self.pad_id).sum(axis=1).astype(jnp.int32)

  def _source_mask(self, src):
    return jnp.ones(src.shape, jnp.bool_) if self.pad_id is None else src != self.pad_id

  def encode(self, src, train: bool = False):
    """src (B, Ls) int -> the encoder's final (c, h) per layer, each (B, hidden_size); with attention,
    (those states, the top layer's outputs (B, Ls, hidden_size))."""
    lengths = self._lengths(src)
    if self.reverse_source:
      src = reverse_real_tokens(src, lengths)
    x, states = self.src_embedding(src), []
    for rnn in self.encoder:
      x = self.dropout(x, deterministic=not train)
      state, x = rnn(x, seq_lengths=lengths)  # the state at each row's last real token
      states.append(state)
    return tuple(states) if self.attention is None else (tuple(states), x)

  def decode_logits(self, memory, src, tgt_in, train: bool = False):
    """Logits (B, Lt, V) of the next target tokens, the decoder started from `memory` (encode's states).
    `src` gives the padding mask of the attention (unused without attention)."""
    x = self.tgt_embedding(tgt_in)
    if self.attention is None:
      return self._plain_decoder(memory, x, train)
    states, outputs = memory
    keys, mask = self.memory_projection(outputs), self._source_mask(src)
    if self.attention == "bahdanau":
      x = self.dropout(x, deterministic=not train)
      _, (x, weights) = self.attentive_decoder(states, x, keys, outputs, mask)
    else:
      x = self._plain_decoder(states, x, train, logits=False)
      weights = masked_softmax(jnp.einsum("bth,bsh->bts", x, keys), mask)
      context = jnp.einsum("bts,bsh->bth", weights.astype(outputs.dtype), outputs)
      x = jnp.tanh(self.combine(jnp.concatenate([context, x], axis=-1)))
    if not self.is_initializing():
      self.sow("intermediates", "attention_weights", weights)
    x = self.dropout(x, deterministic=not train)
    return self.output(x).astype(jnp.float32)

  def _plain_decoder(self, states, x, train, logits=True):
    for rnn, state in zip(self.decoder, states):
      x = self.dropout(x, deterministic=not train)
      _, x = rnn(x, initial_carry=state)
    if not logits:
      return x
    x = self.dropout(x, deterministic=not train)
    return self.output(x).astype(jnp.float32)

  def __call__(self, src, tgt_in, *, train: bool = False):
    return self.decode_logits(self.encode(src, train=train), src, tgt_in, train=train)


register_model(functools.partial(LSTMSeq2Seq, vocab_size=256, src_vocab_size=None, embed_dim=64, hidden_size=64,
                                 num_layers=2), name="lstm_seq2seq_tiny")
register_model(functools.partial(LSTMSeq2Seq), name="lstm_seq2seq_sutskever")  # the paper's model (Sec. 3.4)  # the paper's model (Sec. 3.4)
