"""Sequence tasks: seq2seq on embedded digit strings and character language modelling (train/text_data.py).

Both plug into the task-agnostic step (train/tasks.py); their options come from `config.task_kwargs` (unknown keys
are errors). Losses are token cross-entropies (archs.losses.softmax_cross_entropy) averaged over the real target
tokens of the batch; metrics are (sum, count) pairs over those tokens.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from archs import losses
from archs.transformer import greedy_decode
from train import data, errors, tasks, text_data


def task_options(config, defaults: dict, task: str) -> dict:
  """`defaults` updated with config.task_kwargs; a key the task does not know is a UserError."""
  given = dict(config.task_kwargs)
  for key in given:
    if key not in defaults:
      raise errors.unknown(f"task_kwargs key for task {task!r}:", key, defaults)
  return {**defaults, **given}


def other_collections(variables) -> dict:
  """The non-'params' collections, unchanged (these tasks' models keep no batch statistics)."""
  return {k: v for k, v in variables.items() if k != "params"}


def token_metrics(logits, targets, weights, label_smoothing: float = 0.0):
  """{loss, accuracy} as (sum, count) over the tokens with weight 1, and the mean loss to differentiate."""
  ce = losses.softmax_cross_entropy(logits, targets, label_smoothing)
  correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
  n = weights.sum()
  metrics = {"loss": ((ce * weights).sum(), n), "accuracy": ((correct * weights).sum(), n)}
  return (ce * weights).sum() / jnp.maximum(n, 1.0), metrics


class Seq2SeqTask(tasks.Task):
  """Digit strings -> their copy / reversal / sort, for encoder-decoder models `apply(v, src, tgt_in)` -> logits.

  task_kwargs: kind (copy | reverse | sort), min_len, max_len, train_examples (a fixed train set drawn from the
  run's seed), eval_examples (a fixed eval set drawn from eval_seed, the same for every run), label_smoothing.
  Eval metrics: `loss`, `accuracy` (teacher-forced next-token accuracy over target tokens, EOS included),
  `exact_match` (the GREEDY decoding, archs.transformer.greedy_decode with the key/value cache, equals the whole
  target: digits, EOS, and padding after it) and `greedy_accuracy` (token accuracy of that decoding).
  """
  name = "seq2seq"
  DEFAULTS = dict(kind="reverse", min_len=1, max_len=10, train_examples=20000, eval_examples=1000, eval_seed=1234,
                  label_smoothing=0.0)

  def __init__(self, seed: int = 0, **options):
    self.seed = seed
    self.options = {**self.DEFAULTS, **options}
    if self.options["kind"] not in text_data.SEQ2SEQ_KINDS:
      raise errors.unknown("seq2seq kind", self.options["kind"], text_data.SEQ2SEQ_KINDS)

  @classmethod
  def from_config(cls, config):
    return cls(config.seed, **task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config, process_index, process_count):
    o = self.options
    make = lambda num, seed: data.ArraySource(text_data.seq2seq_examples(num, o["kind"], o["min_len"], o["max_len"],
                                                                         seed))
    train, test = make(o["train_examples"], [self.seed, 0]), make(o["eval_examples"], [o["eval_seed"], 1])
    if process_count > 1:
      train, test = data.Shard(train, process_index, process_count), data.Shard(test, process_index, process_count)
    return train, test, {"vocab_size": text_data.SEQ2SEQ_VOCAB}

  def model_overrides(self, config, info):
    return {"vocab_size": info["vocab_size"], "pad_id": text_data.PAD}

  def init_inputs(self, batch):
    return batch["src"], batch["tgt_in"]

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    logits = model.apply(variables, batch["src"], batch["tgt_in"], train=train, rngs=rngs, **hparams)
    weights = (batch["tgt_out"] != text_data.PAD).astype(jnp.float32)
    loss, metrics = token_metrics(logits, batch["tgt_out"], weights, self.options["label_smoothing"])
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, hparams):
    mask = batch["mask"].astype(jnp.float32)
    logits = model.apply(variables, batch["src"], batch["tgt_in"], train=False, **hparams)
    target = batch["tgt_out"]
    weights = (target != text_data.PAD).astype(jnp.float32) * mask[:, None]
    _, metrics = token_metrics(logits, target, weights, self.options["label_smoothing"])
    decoded = greedy_decode(model, variables, batch["src"], max_len=target.shape[1], bos_id=text_data.BOS,
                            eos_id=text_data.EOS)
    metrics.update(decoded_metrics(decoded, target, mask))
    return metrics


def decoded_metrics(decoded, target, mask):
  """exact_match: the whole decoded row equals the target row; greedy_accuracy: per target token (non-PAD)."""
  exact = jnp.all(decoded == target, axis=1).astype(jnp.float32)
  weights = (target != text_data.PAD).astype(jnp.float32) * mask[:, None]
  correct = ((decoded == target) * weights).sum()
  return {"exact_match": ((exact * mask).sum(), mask.sum()), "greedy_accuracy": (correct, weights.sum())}


class LanguageModelTask(tasks.Task):
  """Next-character prediction on the grammar corpus, for LMs `apply(v, tokens (B, L))` -> logits (B, L, V).

  task_kwargs: seq_len, corpus_chars, corpus_seed (the corpus is the same for every run seed), eval_fraction (the
  corpus tail held out), eval_mode / eval_chunk_size (RetNet: evaluate in 'parallel' | 'chunkwise' | 'recurrent'
  form; '' passes nothing, for other models).
  Metrics: `loss`, `accuracy` (next token), `perplexity` = exp(mean token loss) and, in eval, the baseline
  `unigram_perplexity` = exp(mean -log q(target)) with q the add-one train character frequencies.
  """
  name = "lm"
  DEFAULTS = dict(seq_len=128, corpus_chars=300_000, corpus_seed=0, eval_fraction=0.1, eval_mode="",
                  eval_chunk_size=64)
  EXP_METRICS = ("perplexity", "unigram_perplexity")

  def __init__(self, **options):
    self.options = {**self.DEFAULTS, **options}

  @classmethod
  def from_config(cls, config):
    return cls(**task_options(config, cls.DEFAULTS, cls.name))

  def corpus(self):
    """(train ids, eval ids, vocabulary) of the character corpus."""
    o = self.options
    text = text_data.english_corpus(o["corpus_chars"], o["corpus_seed"])
    vocab = text_data.char_vocabulary(text)
    ids = np.searchsorted(np.array(vocab), np.array(list(text))).astype(np.int32)
    split = int(round(len(ids) * (1.0 - o["eval_fraction"])))
    return ids[:split], ids[split:], vocab

  def datasets(self, config, process_index, process_count):
    train_ids, eval_ids, vocab = self.corpus()
    windows = lambda ids: data.ArraySource(
        text_data.char_lm_windows(train_ids, ids, self.options["seq_len"], len(vocab)))
    train, test = windows(train_ids), windows(eval_ids)
    if process_count > 1:
      train, test = data.Shard(train, process_index, process_count), data.Shard(test, process_index, process_count)
    return train, test, {"vocab_size": len(vocab)}

  def model_overrides(self, config, info):
    return {"vocab_size": info["vocab_size"]}

  def init_inputs(self, batch):
    return (batch["inputs"],)

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    logits = model.apply(variables, batch["inputs"], train=train, rngs=rngs, **hparams)
    loss, metrics = token_metrics(logits, batch["targets"], jnp.ones(batch["targets"].shape, jnp.float32))
    metrics["perplexity"] = metrics["loss"]
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, hparams):
    mode = {"mode": self.options["eval_mode"], "chunk_size": self.options["eval_chunk_size"]} \
        if self.options["eval_mode"] else {}
    logits = model.apply(variables, batch["inputs"], train=False, **mode, **hparams)
    weights = jnp.broadcast_to(batch["mask"].astype(jnp.float32)[:, None], batch["targets"].shape)
    _, metrics = token_metrics(logits, batch["targets"], weights)
    metrics["perplexity"] = metrics["loss"]
    metrics["unigram_perplexity"] = ((batch["unigram_nll"] * weights).sum(), weights.sum())
    return metrics

  def summarize(self, metrics):
    out = super().summarize(metrics)
    return {k: float(np.exp(v)) if k in self.EXP_METRICS else v for k, v in out.items()}
