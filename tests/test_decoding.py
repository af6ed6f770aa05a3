"""archs/decoding.py: greedy and beam search over encode/decode_logits models, sequence log-probabilities."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs import create_model, decoding
from archs.transformer import greedy_decode

VOCAB, BOS, EOS, PAD = 5, 1, 2, 0


def tiny(name="transformer_tiny", sharpen=4.0, seed=0, **kw):
  """A small random model whose next-token distributions are far from uniform (scaled output embedding)."""
  model = create_model(name, vocab_size=VOCAB, pad_id=PAD, **kw)
  src = jnp.asarray(np.random.default_rng(seed).integers(3, VOCAB, (3, 4)), jnp.int32)
  variables = model.init(jax.random.key(seed), src, src)
  variables = jax.tree.map(lambda p: p * sharpen if p.ndim == 2 and VOCAB in p.shape else p, variables)
  return model, variables, src


@pytest.mark.parametrize("name,kw", [("transformer_tiny", dict(d_model=32, num_heads=2, d_ff=32)),
                                     ("lstm_seq2seq_tiny", {})])
def test_beam_of_one_is_greedy(name, kw):
  model, variables, src = tiny(name, **kw)
  greedy = decoding.greedy(model, variables, src, max_len=6, bos_id=BOS, eos_id=EOS, pad_id=PAD)
  beam, score = decoding.beam_search(model, variables, src, max_len=6, beam_size=1, alpha=0.6, bos_id=BOS,
                                     eos_id=EOS, pad_id=PAD)
  np.testing.assert_array_equal(beam, greedy)
  log_p = decoding.sequence_log_prob(model, variables, src, greedy, bos_id=BOS, eos_id=EOS)
  lp = decoding.length_penalty(decoding.sequence_lengths(greedy, EOS), 0.6)
  np.testing.assert_allclose(score, log_p / lp, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # four decoders compiled; by default the exhaustive-beam test checks the cached beam search
def test_uncached_decoding_equals_the_transformers_cached_decoding():
  model, variables, src = tiny(d_model=32, num_heads=2, d_ff=32)
  plain = decoding.greedy(model, variables, src, max_len=7, bos_id=BOS, eos_id=EOS, pad_id=PAD, use_cache=False)
  cached = greedy_decode(model, variables, src, max_len=7, bos_id=BOS, eos_id=EOS)
  np.testing.assert_array_equal(plain, cached)
  ids = dict(max_len=5, beam_size=3, alpha=0.6, bos_id=BOS, eos_id=EOS, pad_id=PAD)
  plain_beam, plain_score = decoding.beam_search(model, variables, src, **ids, use_cache=False)
  beam, score = decoding.beam_search(model, variables, src, **ids, use_cache=True)
  np.testing.assert_array_equal(beam, plain_beam, err_msg="beam search with the cache changed the hypotheses")
  np.testing.assert_allclose(score, plain_score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_exhaustive_beam_finds_the_best_sequence_by_brute_force(alpha):
  """Beam VOCAB^(L-1) keeps every prefix, so its result is the argmax over all VOCAB^L sequences of
  log P / lp (sequences that differ only after eos are the same hypothesis)."""
  max_len = 3
  model, variables, src = tiny(d_model=32, num_heads=2, d_ff=32, seed=1)
  tokens, score = decoding.beam_search(model, variables, src, max_len=max_len, beam_size=VOCAB ** (max_len - 1),
                                       alpha=alpha, bos_id=BOS, eos_id=EOS, pad_id=PAD)
  every = jnp.asarray(list(itertools.product(range(VOCAB), repeat=max_len)), jnp.int32)  # (125, 3)
  for b in range(src.shape[0]):
    srcs = jnp.broadcast_to(src[b], (len(every), src.shape[1]))
    log_p = decoding.sequence_log_prob(model, variables, srcs, every, bos_id=BOS, eos_id=EOS)
    brute = log_p / decoding.length_penalty(decoding.sequence_lengths(every, EOS), alpha)
    best = int(jnp.argmax(brute))
    np.testing.assert_allclose(score[b], brute[best], rtol=1e-5, atol=1e-5)
    n = int(decoding.sequence_lengths(every[best][None], EOS)[0])
    np.testing.assert_array_equal(tokens[b, :n], every[best, :n])
    assert (np.asarray(tokens[b, n:]) == PAD).all(), f"tokens after eos are not pad: {tokens[b]}"


def test_length_penalty_changes_the_choice_between_short_and_long():
  """alpha grows lp with length, favouring longer hypotheses (their log P is lower): the mean result length does
  not drop as alpha grows, and strictly grows somewhere on these random sources."""
  model, variables, _ = tiny(d_model=32, num_heads=2, d_ff=32, seed=3)
  src = jnp.asarray(np.random.default_rng(3).integers(3, VOCAB, (32, 4)), jnp.int32)
  lengths = [float(decoding.sequence_lengths(decoding.beam_search(
      model, variables, src, max_len=6, beam_size=8, alpha=a, bos_id=BOS, eos_id=EOS, pad_id=PAD)[0], EOS).mean())
      for a in (0.0, 5.0)]
  assert lengths[1] > lengths[0], lengths


def test_bad_beam_size_is_an_error():
  model, variables, src = tiny(d_model=32, num_heads=2, d_ff=32)
  with pytest.raises(ValueError, match="beam_size must be >= 1; got 0"):
    decoding.beam_search(model, variables, src, max_len=3, beam_size=0)


def test_sequence_lengths_count_through_the_first_eos():
  tgt = jnp.asarray([[4, EOS, 3, EOS], [3, 3, 3, 3], [EOS, 0, 0, 0]])
  np.testing.assert_array_equal(decoding.sequence_lengths(tgt, EOS), [2, 4, 1])
