"""Character language modelling on the grammar corpus (train/text_data.py) for LMs `apply(v, tokens)` -> logits.

Options come from `config.task_kwargs` (unknown keys are errors). The loss is the mean next-token cross-entropy.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from train import data, text_data
from train.tasks.base import Task, other_collections, task_options, token_metrics


class LanguageModelTask(Task):
  """Next-character prediction on the grammar corpus, for LMs `apply(v, tokens (B, L))` -> logits (B, L, V).

  task_kwargs: seq_len, corpus_chars, corpus_seed (the corpus is the same for every run seed), eval_fraction (the
  corpus tail held out), eval_mode / eval_chunk_size (RetNet: evaluate in 'parallel' | 'chunkwise' | 'recurrent'
  form; '' passes nothing, for other models).
  Metrics: `loss`, `accuracy` (next token), `perplexity` = exp(mean token loss) and, in eval, the baseline
  `unigram_perplexity` = exp(mean -log q(target)) with q the add-one train character frequencies.
  """
  name = "lm"
  data_name = "grammar_corpus"
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

  def datasets(self, config):
    train_ids, eval_ids, vocab = self.corpus()
    windows = lambda ids: data.ArraySource(
        text_data.char_lm_windows(train_ids, ids, self.options["seq_len"], len(vocab)))
    train, test = windows(train_ids), windows(eval_ids)
    return train, test, {"vocab_size": len(vocab)}

  def model_overrides(self, config, info):
    return {"vocab_size": info["vocab_size"]}

  def init_inputs(self, batch):
    return (batch["inputs"],)

  def tokens_per_example(self, example):
    return len(example["inputs"])

  def loss_fn(self, model, variables, batch, rngs, train, scheduled_args):
    logits = model.apply(variables, batch["inputs"], train=train, rngs=rngs, **scheduled_args)
    loss, metrics = token_metrics(logits, batch["targets"], jnp.ones(batch["targets"].shape, jnp.float32))
    metrics["perplexity"] = metrics["loss"]
    return loss, (metrics, other_collections(variables))

  def eval_metrics(self, model, variables, batch, scheduled_args):
    mode = {"mode": self.options["eval_mode"], "chunk_size": self.options["eval_chunk_size"]} \
        if self.options["eval_mode"] else {}
    logits = model.apply(variables, batch["inputs"], train=False, **mode, **scheduled_args)
    weights = jnp.broadcast_to(batch["mask"].astype(jnp.float32)[:, None], batch["targets"].shape)
    _, metrics = token_metrics(logits, batch["targets"], weights)
    metrics["perplexity"] = metrics["loss"]
    metrics["unigram_perplexity"] = ((batch["unigram_nll"] * weights).sum(), weights.sum())
    return metrics

  def summarize(self, metrics):
    out = super().summarize(metrics)
    return {k: float(np.exp(v)) if k in self.EXP_METRICS else v for k, v in out.items()}
