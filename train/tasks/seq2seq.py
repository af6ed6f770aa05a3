"""Seq2seq on embedded digit strings (copy / reverse / sort, train/text_data.py) for encoder-decoder models.

Options come from `config.task_kwargs` (unknown keys are errors). The loss is the token cross-entropy averaged
over the real target tokens of the batch; metrics are (sum, count) pairs over those tokens.
"""
from __future__ import annotations

import jax.numpy as jnp

from archs import decoding
from archs.transformer import Transformer, greedy_decode
from train import data, errors, text_data
from train.tasks.base import Task, other_collections, task_options, token_metrics


class Seq2SeqTask(Task):
  """Digit strings -> their copy / reversal / sort, for encoder-decoder models `apply(v, src, tgt_in)` -> logits.

  task_kwargs: kind (copy | reverse | sort), min_len, max_len, train_examples (a fixed train set drawn from the
  run's seed), eval_examples (a fixed eval set drawn from eval_seed, the same for every run), label_smoothing,
  beam_size / beam_alpha (0: no beam search in eval).
  Eval metrics: `loss`, `accuracy` (teacher-forced next-token accuracy over target tokens, EOS included),
  `exact_match` (the GREEDY decoding equals the whole target: digits, EOS, and padding after it; the Transformer's
  is archs.transformer.greedy_decode with the key/value cache, other models' archs.decoding.greedy) and
  `greedy_accuracy` (token accuracy of that decoding); with task_kwargs beam_size > 0 also `beam_exact_match` and
  `beam_accuracy`, of archs.decoding.beam_search (length penalty alpha = beam_alpha).
  """
  name = "seq2seq"
  DEFAULTS = dict(kind="reverse", min_len=1, max_len=10, train_examples=20000, eval_examples=1000, eval_seed=1234,
                  label_smoothing=0.0, beam_size=0, beam_alpha=0.6)

  def __init__(self, seed: int = 0, **options):
    self.seed = seed
    self.options = {**self.DEFAULTS, **options}
    if self.options["kind"] not in text_data.SEQ2SEQ_KINDS:
      raise errors.unknown("seq2seq kind", self.options["kind"], text_data.SEQ2SEQ_KINDS)
    self.data_name = f"digit_strings_{self.options['kind']}"

  @classmethod
  def from_config(cls, config):
    return cls(config.seed, **task_options(config, cls.DEFAULTS, cls.name))

  def datasets(self, config):
    o = self.options
    make = lambda num, seed: data.ArraySource(text_data.seq2seq_examples(num, o["kind"], o["min_len"], o["max_len"],
                                                                         seed))
    train, test = make(o["train_examples"], [self.seed, 0]), make(o["eval_examples"], [o["eval_seed"], 1])
    return train, test, {"vocab_size": text_data.SEQ2SEQ_VOCAB}

  def model_overrides(self, config, info):
    return {"vocab_size": info["vocab_size"], "pad_id": text_data.PAD}

  def tokens_per_example(self, example):
    return len(example["tgt_in"])  # decoder positions, padding included

  def init_inputs(self, batch):
    return batch["src"], batch["tgt_in"]

  def loss_fn(self, model, variables, batch, rngs, train, scheduled_args):
    logits = model.apply(variables, batch["src"], batch["tgt_in"], train=train, rngs=rngs, **scheduled_args)
    weights = (batch["tgt_out"] != text_data.PAD).astype(jnp.float32)
    loss, metrics = token_metrics(logits, batch["tgt_out"], weights, self.options["label_smoothing"])
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, scheduled_args):
    mask = batch["mask"].astype(jnp.float32)
    logits = model.apply(variables, batch["src"], batch["tgt_in"], train=False, **scheduled_args)
    target = batch["tgt_out"]
    weights = (target != text_data.PAD).astype(jnp.float32) * mask[:, None]
    _, metrics = token_metrics(logits, target, weights, self.options["label_smoothing"])
    ids = dict(max_len=target.shape[1], bos_id=text_data.BOS, eos_id=text_data.EOS)
    if isinstance(model, Transformer):
      decoded = greedy_decode(model, variables, batch["src"], **ids)
    else:
      decoded = decoding.greedy(model, variables, batch["src"], **ids, pad_id=text_data.PAD)
    metrics.update(decoded_metrics(decoded, target, mask))
    if self.options["beam_size"] > 0:
      beam, _ = decoding.beam_search(model, variables, batch["src"], **ids, beam_size=self.options["beam_size"],
                                     alpha=self.options["beam_alpha"], pad_id=text_data.PAD)
      exact, correct = decoded_metrics(beam, target, mask).values()
      metrics.update(beam_exact_match=exact, beam_accuracy=correct)
    return metrics


def decoded_metrics(decoded, target, mask):
  """exact_match: the whole decoded row equals the target row; greedy_accuracy: per target token (non-PAD)."""
  exact = jnp.all(decoded == target, axis=1).astype(jnp.float32)
  weights = (target != text_data.PAD).astype(jnp.float32) * mask[:, None]
  correct = ((decoded == target) * weights).sum()
  return {"exact_match": ((exact * mask).sum(), mask.sum()), "greedy_accuracy": (correct, weights.sum())}
