"""Embedded token data for the sequence tasks: no download, every array a pure function of its seed.

Seq2seq (`seq2seq_examples`): random digit strings and their copy, reversal or sort. Token ids: PAD 0, BOS 1,
EOS 2, digit d -> d + 3 (vocabulary 13). For a string of length n <= max_len, arrays of length max_len + 1:
  src     = digits, EOS, PAD...            (the encoder input)
  tgt_in  = BOS, output digits, PAD...     (the decoder input, teacher forcing)
  tgt_out = output digits, EOS, PAD...     (what the decoder must emit; greedy_decode also pads after EOS)

Language modelling (`english_corpus`): a character corpus written by a small probabilistic grammar of English-like
sentences ("the old farmer saw a small dog near the river."), generated from `seed`; `char_lm_windows` cuts it into
(inputs, targets) windows and attaches each target's unigram negative log-likelihood under the train-set character
frequencies (add-one smoothed), the baseline a language model must beat.
"""
from __future__ import annotations

import numpy as np

PAD, BOS, EOS = 0, 1, 2
DIGIT0 = 3
SEQ2SEQ_VOCAB = DIGIT0 + 10
SEQ2SEQ_KINDS = ("copy", "reverse", "sort")


def seq2seq_examples(num: int, kind: str, min_len: int, max_len: int, seed) -> dict[str, np.ndarray]:
  """`num` examples of the `kind` task on digit strings of uniform length in [min_len, max_len] (see module doc)."""
  if kind not in SEQ2SEQ_KINDS:
    raise ValueError(f"seq2seq kind={kind!r}; accepted: {', '.join(SEQ2SEQ_KINDS)}")
  if not 1 <= min_len <= max_len:
    raise ValueError(f"min_len={min_len}, max_len={max_len}; accepted: 1 <= min_len <= max_len")
  rng = np.random.default_rng(seed)
  lengths = rng.integers(min_len, max_len + 1, num)
  digits = rng.integers(0, 10, (num, max_len))
  positions = np.arange(max_len)[None, :]
  valid = positions < lengths[:, None]
  if kind == "copy":
    out = digits
  elif kind == "reverse":  # position i takes digit n - 1 - i
    out = np.take_along_axis(digits, np.clip(lengths[:, None] - 1 - positions, 0, max_len - 1), axis=1)
  else:  # sort the valid digits: invalid positions sort last as 10
    out = np.sort(np.where(valid, digits, 10), axis=1)
  width = max_len + 1
  src = np.full((num, width), PAD, np.int32)
  tgt_in = np.full((num, width), PAD, np.int32)
  tgt_out = np.full((num, width), PAD, np.int32)
  rows = np.arange(num)
  src[:, :max_len] = np.where(valid, digits + DIGIT0, PAD)
  src[rows, lengths] = EOS
  tgt_out[:, :max_len] = np.where(valid, out + DIGIT0, PAD)
  tgt_out[rows, lengths] = EOS
  tgt_in[:, 0] = BOS
  tgt_in[:, 1:] = np.where(valid, out + DIGIT0, PAD)
  return {"src": src, "tgt_in": tgt_in, "tgt_out": tgt_out}


# ---------------------------------------------------------------- an English-like grammar
_WORDS = {
    "det": ["the", "a", "every", "some", "this", "that"],
    "adj": ["old", "young", "small", "big", "quiet", "happy", "tired", "clever", "red", "green", "brave", "lazy"],
    "noun": ["farmer", "dog", "cat", "teacher", "child", "bird", "king", "sailor", "horse", "baker", "fox",
             "student", "river", "garden", "house", "village", "forest", "boat", "letter", "song"],
    "verb_t": ["saw", "found", "liked", "followed", "painted", "carried", "heard", "watched", "helped", "visited"],
    "verb_i": ["slept", "laughed", "waited", "arrived", "sang", "walked", "smiled", "rested"],
    "adv": ["quickly", "slowly", "happily", "again", "today", "quietly", "early", "late"],
    "prep": ["near", "behind", "under", "beside", "across", "inside"],
    "conj": ["and", "but", "while", "because"],
}


def _noun_phrase(rng, depth=0):
  words = [rng.choice(_WORDS["det"])]
  while rng.random() < 0.4:  # a geometric number of adjectives
    words.append(rng.choice(_WORDS["adj"]))
  words.append(rng.choice(_WORDS["noun"]))
  if depth == 0 and rng.random() < 0.25:
    words += [rng.choice(_WORDS["prep"])] + _noun_phrase(rng, depth + 1)
  return words


def _clause(rng):
  words = _noun_phrase(rng)
  if rng.random() < 0.6:
    words += [rng.choice(_WORDS["verb_t"])] + _noun_phrase(rng)
  else:
    words.append(rng.choice(_WORDS["verb_i"]))
  if rng.random() < 0.3:
    words.append(rng.choice(_WORDS["adv"]))
  return words


def _sentence(rng) -> str:
  words = _clause(rng)
  if rng.random() < 0.3:
    words[-1] += ","
    words += [rng.choice(_WORDS["conj"])] + _clause(rng)
  return " ".join(words) + "."


def english_corpus(num_chars: int, seed: int = 0) -> str:
  """At least `num_chars` characters of grammar sentences separated by spaces (a pure function of the seed)."""
  rng = np.random.default_rng(seed)
  sentences, total = [], 0
  while total < num_chars:
    sentences.append(_sentence(rng))
    total += len(sentences[-1]) + 1
  return " ".join(sentences)[:num_chars]


def char_vocabulary(text: str) -> list[str]:
  return sorted(set(text))


def char_lm_windows(train_ids: np.ndarray, ids: np.ndarray, seq_len: int, vocab_size: int) -> dict[str, np.ndarray]:
  """Non-overlapping windows of `ids`: inputs ids[t:t+L], targets ids[t+1:t+L+1], and unigram_nll (L,) per target
  = -log q(target), q(c) = (count of c in train_ids + 1) / (len(train_ids) + vocab_size)."""
  num = (len(ids) - 1) // seq_len
  if num < 1:
    raise ValueError(f"{len(ids)} tokens make no window of seq_len={seq_len}; accepted: seq_len < {len(ids)}")
  counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64)
  unigram_nll = -np.log((counts + 1.0) / (len(train_ids) + vocab_size))
  starts = np.arange(num)[:, None] * seq_len + np.arange(seq_len)[None, :]
  inputs, targets = ids[starts].astype(np.int32), ids[starts + 1].astype(np.int32)
  return {"inputs": inputs, "targets": targets, "unigram_nll": unigram_nll[targets].astype(np.float32)}
