"""The Transformer (Vaswani et al. 2017, "Attention Is All You Need"): encoder-decoder and decoder-only LM.

Paper defaults: post-LN sublayers LayerNorm(x + Dropout(Sublayer(x))) (Sec. 5.4), embeddings scaled by sqrt(d_model)
and summed with sinusoidal encodings (Sec. 3.4-3.5), one embedding matrix shared by source, target and the
pre-softmax projection (Sec. 3.4), dropout 0.1 on sublayer outputs and on embeddings + positions. Options: pre-LN
(x + Dropout(Sublayer(LayerNorm(x))), with a final LayerNorm per stack as in tensor2tensor), learned positions,
untied embeddings, gated FFNs, attention / FFN-hidden dropout (t2t's attention_dropout / relu_dropout, 0 here).
Source padding (pad_id, default 0) is masked in encoder self-attention and in cross-attention; pad_id=None
disables it. The decoder self-attention is causal. Init: Embed normal(d^-0.5) (t2t, fairseq), Dense Xavier-uniform.
Decoding: `greedy_decode` (seq2seq) and `greedy_generate` (LM) run with or without the 'cache' collection.
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from archs import decoding
from archs.layers.attention import MultiHeadAttention, causal_mask, padding_mask
from archs.layers.ffn import FeedForward
from archs.layers.positional import PositionalEncoding
from archs.registry import register_model


class TransformerLayer(nn.Module):
  """Encoder layer (self-attention, FFN) or, with cross_attention, decoder layer (masked self-attention,
  encoder-decoder attention, FFN), each sublayer wrapped post-LN (paper) or pre-LN."""
  num_heads: int
  d_ff: int
  ffn_kind: str = "relu"
  cross_attention: bool = False
  pre_ln: bool = False
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  ffn_dropout_rate: float = 0.0
  layer_norm_eps: float = 1e-6
  decode: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, mask=None, memory=None, memory_mask=None, train: bool = False):
    def sublayer(x, fn, name):
      norm = nn.LayerNorm(epsilon=self.layer_norm_eps, dtype=self.dtype, name=f"{name}_norm")
      drop = nn.Dropout(self.dropout_rate, name=f"{name}_dropout")
      if self.pre_ln:
        return x + drop(fn(norm(x)), deterministic=not train)
      return norm(x + drop(fn(x), deterministic=not train))

    attention = functools.partial(MultiHeadAttention, self.num_heads, dropout_rate=self.attention_dropout_rate,
                                  dtype=self.dtype)
    x = sublayer(x, lambda y: attention(decode=self.decode, name="self_attention")(y, mask=mask, train=train),
                 "self_attention")
    if self.cross_attention:
      if memory is None and not self.decode:
        raise ValueError("a decoder layer (cross_attention=True) needs the encoder output `memory`; got None")
      # decode=True: memory's keys/values are cached on the first step; later steps pass memory=None
      cross = attention(decode=self.decode, static_kv=True, name="cross_attention")
      x = sublayer(x, lambda y: cross(y, memory, mask=memory_mask, train=train), "cross_attention")
    ffn = FeedForward(self.d_ff, kind=self.ffn_kind, dropout_rate=self.ffn_dropout_rate, dtype=self.dtype, name="ffn")
    return sublayer(x, lambda y: ffn(y, train=train), "ffn")


class TransformerStack(nn.Module):
  """Embedding * sqrt(d_model) + positional encoding -> dropout -> layers (-> final LayerNorm when pre-LN)."""
  embed: nn.Module
  layer: Callable[..., TransformerLayer]  # a partial of TransformerLayer
  num_layers: int
  cross_attention: bool = False
  positional: str = "sinusoidal"
  max_len: int = 512
  dropout_rate: float = 0.1
  pre_ln: bool = False
  layer_norm_eps: float = 1e-6
  decode: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens, mask=None, memory=None, memory_mask=None, train: bool = False):
    x = self.embed(tokens) * math.sqrt(self.embed.features)
    x = PositionalEncoding(self.positional, self.max_len, decode=self.decode, name="positional")(x)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
    for i in range(self.num_layers):
      x = self.layer(cross_attention=self.cross_attention, decode=self.decode, name=f"layer_{i}")(
          x, mask, memory, memory_mask, train=train)
    if self.pre_ln:
      x = nn.LayerNorm(epsilon=self.layer_norm_eps, dtype=self.dtype, name="final_norm")(x)
    return x


def _embedding(vocab_size, d_model, dtype, name=None):
  return nn.Embed(vocab_size, d_model, embedding_init=nn.initializers.normal(d_model ** -0.5), dtype=dtype, name=name)


def _layer(m) -> Callable[..., TransformerLayer]:
  return functools.partial(TransformerLayer, num_heads=m.num_heads, d_ff=m.d_ff, ffn_kind=m.ffn_kind, pre_ln=m.pre_ln,
                           dropout_rate=m.dropout_rate, attention_dropout_rate=m.attention_dropout_rate,
                           ffn_dropout_rate=m.ffn_dropout_rate, layer_norm_eps=m.layer_norm_eps, dtype=m.dtype)


def _stack_kwargs(m):
  return dict(positional=m.positional, max_len=m.max_len, dropout_rate=m.dropout_rate, pre_ln=m.pre_ln,
              layer_norm_eps=m.layer_norm_eps, decode=m.decode, dtype=m.dtype)


class TransformerOptions(nn.Module):
  """The fields Transformer and TransformerLM share; defaults are the paper's base model."""
  vocab_size: int = 37000
  d_model: int = 512
  num_heads: int = 8
  d_ff: int = 2048
  ffn_kind: str = "relu"
  pre_ln: bool = False
  positional: str = "sinusoidal"
  max_len: int = 512  # learned positions only
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  ffn_dropout_rate: float = 0.0
  tie_output: bool = True  # pre-softmax projection = target embedding^T
  layer_norm_eps: float = 1e-6
  decode: bool = False
  dtype: jnp.dtype = jnp.float32


class Transformer(TransformerOptions):
  """Encoder-decoder: `apply(variables, src (B, Ls), tgt_in (B, Lt), train=False)` -> logits (B, Lt, V), float32.
  Defaults are the paper's base model (37k shared BPE vocabulary)."""
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  share_embeddings: bool = True  # source and target embeddings (a shared vocabulary)
  pad_id: int | None = 0

  def setup(self):
    if self.share_embeddings:
      self.embedding = _embedding(self.vocab_size, self.d_model, self.dtype)
      src_embed = tgt_embed = self.embedding
    else:
      self.src_embedding = _embedding(self.vocab_size, self.d_model, self.dtype)
      self.tgt_embedding = _embedding(self.vocab_size, self.d_model, self.dtype)
      src_embed, tgt_embed = self.src_embedding, self.tgt_embedding
    self.encoder = TransformerStack(src_embed, _layer(self), self.num_encoder_layers, **_stack_kwargs(self))
    self.decoder = TransformerStack(tgt_embed, _layer(self), self.num_decoder_layers, cross_attention=True,
                                    **_stack_kwargs(self))
    if not self.tie_output:
      self.output = nn.Dense(self.vocab_size, use_bias=False, dtype=self.dtype)

  def encode(self, src, train: bool = False):
    """src (B, Ls) int -> memory (B, Ls, d_model)."""
    return self.encoder(src, padding_mask(src, self.pad_id), train=train)

  def decode_logits(self, memory, src, tgt_in, train: bool = False):
    """Logits (B, Lt, V) of the next target tokens. With decode=True, tgt_in is the next chunk (usually one token)
    and the prefix comes from the 'cache' collection (apply with mutable=['cache']); `memory` is needed on the first
    step only (its cross-attention keys/values are cached), later steps may pass None."""
    mask = None if self.decode else causal_mask(tgt_in.shape[1])  # the cache applies causality itself
    y = self.decoder(tgt_in, mask, memory, padding_mask(src, self.pad_id), train=train)
    tgt_embed = self.embedding if self.share_embeddings else self.tgt_embedding
    logits = tgt_embed.attend(y) if self.tie_output else self.output(y)
    return logits.astype(jnp.float32)

  def __call__(self, src, tgt_in, *, train: bool = False):
    return self.decode_logits(self.encode(src, train=train), src, tgt_in, train=train)


class TransformerLM(TransformerOptions):
  """Decoder-only causal LM (the decoder without cross-attention): `apply(variables, tokens (B, L), train=False)`
  -> logits (B, L, V), float32. Same layer options as Transformer; no padding mask (causality hides right padding)."""
  num_layers: int = 6

  @nn.compact
  def __call__(self, tokens, *, train: bool = False):
    embed = _embedding(self.vocab_size, self.d_model, self.dtype, name="embedding")
    mask = None if self.decode else causal_mask(tokens.shape[1])
    y = TransformerStack(embed, _layer(self), self.num_layers, **_stack_kwargs(self), name="decoder")(
        tokens, mask, train=train)
    logits = embed.attend(y) if self.tie_output else nn.Dense(self.vocab_size, use_bias=False, dtype=self.dtype,
                                                              name="output")(y)
    return logits.astype(jnp.float32)


# ---------------------------------------------------------------- greedy decoding

def greedy_decode(model: Transformer, variables, src, max_len: int, bos_id: int = 1, eos_id: int = 2,
                  use_cache: bool = True):
  """Greedy target tokens (B, max_len) int32 for src (B, Ls): argmax at every step, `eos_id` included, pad_id after it.

  archs.decoding.greedy with the model's pad_id: use_cache=True feeds one token per step through the key/value
  cache (decode=True, cross-attention keys/values projected once); use_cache=False recomputes the decoder over the
  whole prefix each step. Both give the same tokens (tests/test_transformer.py).
  """
  pad = 0 if model.pad_id is None else model.pad_id
  return decoding.greedy(model, variables, src, max_len, bos_id=bos_id, eos_id=eos_id, pad_id=pad,
                         use_cache=use_cache)


@functools.partial(jax.jit, static_argnames=("model", "max_len", "eos_id", "pad_id", "use_cache"))
def greedy_generate(model: TransformerLM, variables, prompt, max_len: int, eos_id: int | None = None,
                    pad_id: int = 0, use_cache: bool = True):
  """Continues prompt (B, P) greedily to (B, max_len) int32 tokens, the prompt included; pad_id after eos_id.

  use_cache=True fills the cache with the prompt in one chunk, then feeds one token per step; use_cache=False
  recomputes the full prefix each step. Both give the same tokens.
  """
  batch, prompt_len = prompt.shape
  if not 1 <= prompt_len <= max_len:
    raise ValueError(f"prompt length {prompt_len} must be in [1, max_len={max_len}]")
  params = {"params": variables["params"]}
  tokens = jnp.full((batch, max_len), pad_id, jnp.int32).at[:, :prompt_len].set(prompt.astype(jnp.int32))
  step_model = model.clone(decode=True)
  cache = None
  if use_cache:
    cache = decoding.zero_cache(step_model, tokens)
    if prompt_len > 1:  # prefill all prompt tokens but the last, which the first step feeds
      _, updates = step_model.apply({**params, "cache": cache}, tokens[:, :prompt_len - 1], mutable=["cache"])
      cache = updates["cache"]

  def step(t, state):  # feeds the token at position t, writes the prediction at t + 1
    tokens, cache, done = state
    if use_cache:
      logits, updates = step_model.apply({**params, "cache": cache}, lax.dynamic_slice_in_dim(tokens, t, 1, 1),
                                         mutable=["cache"])
      logits, cache = logits[:, 0], updates["cache"]
    else:
      logits = lax.dynamic_index_in_dim(model.apply(params, tokens), t, axis=1, keepdims=False)
    next_token = jnp.where(done, pad_id, jnp.argmax(logits, axis=-1).astype(jnp.int32))
    tokens = lax.dynamic_update_slice_in_dim(tokens, next_token[:, None], t + 1, axis=1)
    if eos_id is not None:
      done = done | (next_token == eos_id)
    return tokens, cache, done

  tokens, _, _ = lax.fori_loop(prompt_len - 1, max_len - 1, step, (tokens, cache, jnp.zeros((batch,), jnp.bool_)))
  return tokens


# ---------------------------------------------------------------- registered variants

_TINY = dict(vocab_size=256, d_model=64, num_heads=4, d_ff=128)
register_model(functools.partial(Transformer, **_TINY, num_encoder_layers=2, num_decoder_layers=2),
               name="transformer_tiny")
register_model(functools.partial(Transformer), name="transformer_base")  # the paper's base (Table 3)
register_model(functools.partial(TransformerLM, **_TINY, num_layers=2), name="transformer_lm_tiny")
register_model(functools.partial(TransformerLM), name="transformer_lm_base")
