"""Decoding for any encoder-decoder exposing `encode(src, train=False) -> memory` and
`decode_logits(memory, src, tgt_in, train=False) -> logits (B, Lt, V)` (archs.transformer.Transformer,
archs.lstm_seq2seq.LSTMSeq2Seq): greedy search, beam search and the log-probability of given target sequences.

Conventions (train/text_data.py's seq2seq task): the decoder starts from `bos_id`; a hypothesis ends with its first
`eos_id` (included) or at `max_len` tokens; positions after eos hold `pad_id`. `memory` may be any pytree whose
leaves have the batch on axis 0 (the Transformer's encoder output, the LSTM's final states).

Models with a `decode` field (the Transformer) decode with their 'cache' collection by default (use_cache=None):
one token per step, the memory passed on the first step only, so the cross-attention keys/values are projected once
per source and the self-attention keys/values once per token; beam search reorders the cache with the beams.
Otherwise (use_cache=False, the LSTM) every step recomputes the decoder over the whole prefix: O(max_len^2)
decoder work, model-agnostic. Both give the same tokens (tests/test_decoding.py).

Beam search ranks hypotheses by log P(Y|X) / lp(Y), lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al. 2016, GNMT, Eq. 14,
without the coverage penalty; Vaswani et al. 2017 use beam 4, alpha 0.6), |Y| counting the tokens through eos.
Finished hypotheses stay in the beam with their final score, so a beam of K keeps the K best hypotheses of each
length-step, finished or not; K = 1 is greedy search.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax


def zero_cache(model, *args, method=None):
  """The 'cache' collection of `model` (decode=True) for inputs shaped like args, all zeros (index 0)."""
  shapes = jax.eval_shape(functools.partial(model.init, method=method), jax.random.key(0), *args)
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes["cache"])


def _encode(model, variables, src):
  return model.apply(variables, src, method=type(model).encode)


def _stepper(model, params, src, max_len: int, use_cache):
  """(cached, state, step): step(state, tokens (B, max_len), t, memory) -> (log p(. | tokens[:, :t+1]) (B, V), state).

  Cached: state is the 'cache' collection and only tokens[:, t] is fed; `memory` may be None after step 0.
  Uncached: state is None and the decoder reads the whole prefix buffer at position t.
  """
  if use_cache is None:
    use_cache = hasattr(model, "decode")
  method = type(model).decode_logits
  if not use_cache:
    def plain_step(state, tokens, t, memory):
      logits = model.apply(params, memory, src, tokens, method=method)
      return jax.nn.log_softmax(lax.dynamic_index_in_dim(logits, t, axis=1, keepdims=False).astype(jnp.float32)), state
    return False, None, plain_step
  step_model = model.clone(decode=True)
  memory_shape = jax.eval_shape(functools.partial(model.apply, method=type(model).encode), params, src)
  cache = zero_cache(step_model, memory_shape, src, jnp.zeros((src.shape[0], max_len), jnp.int32), method=method)

  def cached_step(cache, tokens, t, memory):
    token = lax.dynamic_slice_in_dim(tokens, t, 1, axis=1)
    logits, updates = step_model.apply({**params, "cache": cache}, memory, src, token, method=method,
                                       mutable=["cache"])
    return jax.nn.log_softmax(logits[:, 0].astype(jnp.float32)), updates["cache"]
  return True, cache, cached_step


def _run_steps(body, state, max_len: int, memory, cached: bool):
  """body(t, state, memory) for t = 0..max_len-1; with the cache, memory goes to step 0 only."""
  if max_len < 1:
    raise ValueError(f"max_len must be >= 1; got {max_len}")
  state = body(0, state, memory)
  later = None if cached else memory
  return lax.fori_loop(1, max_len, lambda t, s: body(t, s, later), state)


def length_penalty(length, alpha: float):
  """GNMT's ((5 + |Y|) / 6)^alpha; alpha = 0 ranks by raw log-probability."""
  return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


@functools.partial(jax.jit, static_argnames=("model", "max_len", "bos_id", "eos_id", "pad_id", "use_cache"))
def greedy(model, variables, src, max_len: int, bos_id: int = 1, eos_id: int = 2, pad_id: int = 0,
           use_cache: bool | None = None):
  """Greedy target tokens (B, max_len) int32: argmax at every step, eos included, pad_id after it.
  use_cache: None = the model's cache when it has one (module docstring)."""
  params = {"params": variables["params"]}
  batch = src.shape[0]
  memory = _encode(model, params, src)
  tokens = jnp.full((batch, max_len + 1), pad_id, jnp.int32).at[:, 0].set(bos_id)
  cached, cache, next_log_probs = _stepper(model, params, src, max_len, use_cache)

  def body(t, state, memory):
    tokens, cache, done = state
    log_probs, cache = next_log_probs(cache, tokens[:, :max_len], t, memory)
    token = jnp.where(done, pad_id, jnp.argmax(log_probs, axis=-1).astype(jnp.int32))
    tokens = lax.dynamic_update_slice_in_dim(tokens, token[:, None], t + 1, axis=1)
    return tokens, cache, done | (token == eos_id)

  tokens, _, _ = _run_steps(body, (tokens, cache, jnp.zeros((batch,), jnp.bool_)), max_len, memory, cached)
  return tokens[:, 1:]


@functools.partial(jax.jit, static_argnames=("model", "max_len", "beam_size", "alpha", "bos_id", "eos_id", "pad_id",
                                             "use_cache"))
def beam_search(model, variables, src, max_len: int, beam_size: int = 4, alpha: float = 0.6, bos_id: int = 1,
                eos_id: int = 2, pad_id: int = 0, use_cache: bool | None = None):
  """(tokens (B, max_len) int32, scores (B,) float32): the best hypothesis of a beam of `beam_size` per source,
  by log P / lp (module docstring), eos included and pad_id after it; its score is that normalised log-probability.
  use_cache: None = the model's cache when it has one."""
  if beam_size < 1:
    raise ValueError(f"beam_size must be >= 1; got {beam_size}")
  params = {"params": variables["params"]}
  batch, k = src.shape[0], beam_size
  tile = lambda x: jnp.repeat(x, k, axis=0)  # (B, ...) -> (B*K, ...), beams of a source adjacent
  memory = jax.tree.map(tile, _encode(model, params, src))
  src_k = tile(src)
  cached, cache, next_log_probs = _stepper(model, params, src_k, max_len, use_cache)
  tokens = jnp.full((batch, k, max_len + 1), pad_id, jnp.int32).at[:, :, 0].set(bos_id)
  # only beam 0 is alive at the start, so the first step does not pick the same token K times
  log_p = jnp.full((batch, k), -jnp.inf).at[:, 0].set(0.0)
  done = jnp.zeros((batch, k), jnp.bool_)
  length = jnp.zeros((batch, k), jnp.int32)

  def body(t, state, memory):
    tokens, cache, log_p, done, length = state
    step_lp, cache = next_log_probs(cache, tokens.reshape(batch * k, -1)[:, :max_len], t, memory)
    vocab = step_lp.shape[-1]
    step_lp = step_lp.reshape(batch, k, vocab)
    # a finished hypothesis has one continuation, pad, that keeps its log-probability and length
    pad_only = jnp.full((vocab,), -jnp.inf).at[pad_id].set(0.0)
    cand_lp = log_p[..., None] + jnp.where(done[..., None], pad_only, step_lp)
    cand_len = jnp.where(done, length, t + 1)[..., None]
    cand_score = cand_lp / length_penalty(cand_len, alpha)
    _, best = lax.top_k(cand_score.reshape(batch, k * vocab), k)
    beam, token = best // vocab, (best % vocab).astype(jnp.int32)
    was_done = jnp.take_along_axis(done, beam, axis=1)
    token = jnp.where(was_done, pad_id, token)
    tokens = jnp.take_along_axis(tokens, beam[..., None], axis=1)
    tokens = lax.dynamic_update_slice_in_dim(tokens, token[..., None], t + 1, axis=2)
    log_p = jnp.take_along_axis(cand_lp.reshape(batch, k * vocab), best, axis=1)
    length = jnp.where(was_done, jnp.take_along_axis(length, beam, axis=1), t + 1)
    if cached:  # each new beam continues its parent's cache (the index, a scalar, is shared)
      parent = (jnp.arange(batch)[:, None] * k + beam).reshape(-1)
      cache = jax.tree.map(lambda c: c[parent] if c.ndim else c, cache)
    return tokens, cache, log_p, was_done | (token == eos_id), length

  state = (tokens, cache, log_p, done, length)
  tokens, _, log_p, _, length = _run_steps(body, state, max_len, memory, cached)
  scores = log_p / length_penalty(length, alpha)
  pick = jnp.argmax(scores, axis=1)
  best_tokens = jnp.take_along_axis(tokens, pick[:, None, None], axis=1)[:, 0, 1:]
  return best_tokens, jnp.take_along_axis(scores, pick[:, None], axis=1)[:, 0]


def sequence_lengths(tgt, eos_id: int = 2):
  """(B,) int32: tokens through the first eos_id of each row (eos counted), the row's length where there is none."""
  is_eos = tgt == eos_id
  first = jnp.argmax(is_eos, axis=1)
  return jnp.where(is_eos.any(axis=1), first + 1, tgt.shape[1]).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("model", "bos_id", "eos_id"))
def sequence_log_prob(model, variables, src, tgt, bos_id: int = 1, eos_id: int = 2):
  """log P(tgt | src) (B,) float32: the sum of the token log-probabilities through the first eos (included);
  tokens after it are ignored, whatever they are."""
  params = {"params": variables["params"]}
  tgt = tgt.astype(jnp.int32)
  tgt_in = jnp.concatenate([jnp.full((tgt.shape[0], 1), bos_id, jnp.int32), tgt[:, :-1]], axis=1)
  logits = model.apply(params, _encode(model, params, src), src, tgt_in, method=type(model).decode_logits)
  token_lp = jnp.take_along_axis(jax.nn.log_softmax(logits.astype(jnp.float32)), tgt[..., None], axis=-1)[..., 0]
  keep = jnp.arange(tgt.shape[1])[None, :] < sequence_lengths(tgt, eos_id)[:, None]
  return jnp.where(keep, token_lp, 0.0).sum(axis=1)
