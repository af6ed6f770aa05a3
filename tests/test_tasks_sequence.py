"""Seq2seq and language-model tasks: embedded data, metrics against direct computations, trainer runs end to end."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from train import defaults, errors, tasks, text_data, trainer
from train.tasks import LanguageModelTask, Seq2SeqTask
from train.tasks.seq2seq import decoded_metrics


def _digits(row):
  """The digits of a token row up to its EOS."""
  row = list(row)
  return [t - text_data.DIGIT0 for t in row[:row.index(text_data.EOS)]]


# ---------------------------------------------------------------- seq2seq data
@pytest.mark.parametrize("kind", text_data.SEQ2SEQ_KINDS)
def test_seq2seq_targets_are_the_copy_reverse_or_sort_of_the_source(kind):
  ex = text_data.seq2seq_examples(50, kind, 1, 7, seed=[3, 0])
  expected_fn = {"copy": list, "reverse": lambda d: d[::-1], "sort": sorted}[kind]
  for src, tgt_in, tgt_out in zip(ex["src"], ex["tgt_in"], ex["tgt_out"]):
    digits, out = _digits(src), _digits(tgt_out)
    assert 1 <= len(digits) <= 7 and all(0 <= d <= 9 for d in digits), f"bad source row {src}"
    assert out == expected_fn(digits), f"{kind} of {digits} should be {expected_fn(digits)}, got {out}"
    n = len(digits)
    assert tgt_in[0] == text_data.BOS and list(tgt_in[1:n + 1]) == list(tgt_out[:n]), "tgt_in = BOS + output"
    assert np.all(tgt_out[n + 1:] == text_data.PAD) and np.all(src[n + 1:] == text_data.PAD), "PAD after EOS"
    assert np.all(tgt_in[n + 1:] == text_data.PAD), "tgt_in holds no EOS"


def test_seq2seq_data_is_deterministic_and_eval_set_fixed():
  a, b = Seq2SeqTask(seed=0).datasets(None), Seq2SeqTask(seed=0).datasets(None)
  c = Seq2SeqTask(seed=7).datasets(None)
  for key in ("src", "tgt_in", "tgt_out"):
    np.testing.assert_array_equal(a[0].arrays[key], b[0].arrays[key], err_msg="same seed must give the same train set")
    np.testing.assert_array_equal(a[1].arrays[key], c[1].arrays[key], err_msg="the eval set must not depend on seed")
  assert not np.array_equal(a[0].arrays["src"], c[0].arrays["src"]), "another seed should draw another train set"
  assert a[2] == {"vocab_size": text_data.SEQ2SEQ_VOCAB}


def test_exact_match_and_greedy_accuracy_of_known_predictions():
  target = jnp.array([[5, 6, 2, 0], [7, 2, 0, 0], [3, 4, 5, 2], [8, 2, 0, 0]])
  decoded = jnp.array([[5, 6, 2, 0], [7, 9, 0, 0], [3, 4, 5, 2], [8, 2, 0, 0]])
  mask = jnp.array([1.0, 1.0, 1.0, 0.0])  # the last row is padding
  m = decoded_metrics(decoded, target, mask)
  assert np.allclose(m["exact_match"], (2.0, 3.0)), f"rows 0 and 2 match exactly out of 3: {m['exact_match']}"
  # Non-PAD target tokens of the real rows: 3 + 2 + 4 = 9, of which 8 are right.
  assert np.allclose(m["greedy_accuracy"], (8.0, 9.0)), f"expected (8, 9), got {m['greedy_accuracy']}"


def test_unknown_task_kwarg_is_a_user_error():
  config = defaults.load_config("transformer")
  config.task_kwargs.unlock()
  config.task_kwargs.max_length = 5
  with pytest.raises(errors.UserError, match="max_length"):
    Seq2SeqTask.from_config(config)


def test_seq2seq_trainer_run_writes_greedy_exact_match(tmp_path):
  config = defaults.load_config("transformer")
  config.model_kwargs = {"dropout_rate": 0.0, "d_model": 16, "d_ff": 32, "num_heads": 2,
                         "num_encoder_layers": 1, "num_decoder_layers": 1}
  config.task_kwargs.max_len, config.task_kwargs.train_examples, config.task_kwargs.eval_examples = 4, 64, 20
  config.num_epochs, config.batch_size, config.eval_batch_size, config.steps_per_call = 1, 32, 16, 2
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / "summary.json") as f:
    written = json.load(f)
  for key in ("eval_accuracy", "eval_exact_match", "eval_greedy_accuracy", "eval_loss"):
    assert 0.0 <= written[key] == summary[key], f"{key} missing or different in summary.json: {written}"
  assert written["steps"] == 2 and written["num_devices"] == 8


def test_lstm_seq2seq_preset_runs_with_generic_greedy_and_beam_metrics(tmp_path):
  """configs/transformer.py:lstm: the LSTM encoder-decoder decodes with archs/decoding.py (no cache) and its eval
  reports beam search beside greedy."""
  config = defaults.load_config("transformer", "lstm")
  config.model_kwargs = {"embed_dim": 8, "hidden_size": 16}
  config.task_kwargs.max_len, config.task_kwargs.train_examples, config.task_kwargs.eval_examples = 4, 64, 20
  config.num_epochs, config.batch_size, config.eval_batch_size, config.steps_per_call = 1, 32, 16, 2
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  for key in ("eval_exact_match", "eval_greedy_accuracy", "eval_beam_exact_match", "eval_beam_accuracy"):
    assert 0.0 <= summary[key] <= 1.0, f"{key} missing or out of range: {summary}"
  v, e, h = text_data.SEQ2SEQ_VOCAB, 8, 16  # two embeddings, 2 + 2 layers of 4h(in + h) + 8h, softmax with bias
  lstm = 4 * h * (e + h) + 8 * h + 4 * h * (2 * h) + 8 * h
  assert summary["model"] == "lstm_seq2seq_tiny" and summary["num_params"] == 2 * v * e + 2 * lstm + (h + 1) * v


# ---------------------------------------------------------------- language modelling
def test_corpus_is_deterministic_and_unigram_nll_follows_the_formula():
  text = text_data.english_corpus(5000, seed=0)
  assert text == text_data.english_corpus(5000, seed=0) and len(text) == 5000
  assert text != text_data.english_corpus(5000, seed=1), "another corpus seed should write another corpus"
  task = LanguageModelTask(seq_len=16, corpus_chars=5000)
  train_ids, eval_ids, vocab = task.corpus()
  assert len(train_ids) == 4500 and len(eval_ids) == 500 and "".join(vocab) == "".join(sorted(set(text)))
  w = text_data.char_lm_windows(train_ids, eval_ids, 16, len(vocab))
  assert w["inputs"].shape == (31, 16)  # (500 - 1) // 16
  np.testing.assert_array_equal(w["targets"][:, :-1], w["inputs"][:, 1:])
  counts = np.array([np.sum(train_ids == c) for c in range(len(vocab))])
  q = (counts + 1) / (len(train_ids) + len(vocab))
  np.testing.assert_allclose(w["unigram_nll"], -np.log(q[w["targets"]]), rtol=1e-6)


def _lm_batch(task, batch=3):
  train, test, info = task.datasets(None)
  example = {k: v[:batch] for k, v in test.arrays.items()}
  example["mask"] = np.array([1.0] * (batch - 1) + [0.0], np.float32)  # the last row is padding
  return example, info


def test_lm_eval_metrics_equal_the_direct_computation():
  task = LanguageModelTask(seq_len=16, corpus_chars=6000)
  batch, info = _lm_batch(task)
  model = archs.create_model("lstm_tiny", vocab_size=info["vocab_size"], hidden_size=16)
  variables = model.init(jax.random.PRNGKey(0), batch["inputs"])
  m = task.eval_metrics(model, variables, batch, {})
  logits = np.asarray(model.apply(variables, batch["inputs"]), np.float64)[:2]
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  targets = batch["targets"][:2]
  nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
  summary = task.summarize(jax.device_get(m))
  assert float(m["perplexity"][1]) == 32.0, "2 real rows x 16 tokens"
  np.testing.assert_allclose(summary["perplexity"], np.exp(nll.mean()), rtol=1e-5)
  np.testing.assert_allclose(summary["accuracy"], np.mean(logits.argmax(-1) == targets), rtol=1e-6)
  np.testing.assert_allclose(summary["unigram_perplexity"], np.exp(batch["unigram_nll"][:2].mean()), rtol=1e-5)


@pytest.mark.parametrize("name", ["lstm_tiny", "retnet_tiny", "tnn_tiny", "transformer_lm_tiny"])
def test_lm_loss_works_with_every_language_model(name):
  task = LanguageModelTask(seq_len=16, corpus_chars=6000)
  batch, info = _lm_batch(task)
  model = archs.create_model(name, vocab_size=info["vocab_size"])
  variables = model.init(jax.random.PRNGKey(0), batch["inputs"])
  loss_fn = lambda params: task.loss_fn(model, {"params": params}, batch, {"dropout": jax.random.PRNGKey(1)}, True, {})
  (loss, (metrics, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
  bad = [jax.tree_util.keystr(k) for k, g in jax.tree_util.tree_leaves_with_path(grads) if not np.all(np.isfinite(g))]
  assert not bad, f"{name}: non-finite gradients in {bad[:3]}"
  assert np.isfinite(loss) and float(metrics["loss"][1]) == 48.0, f"{name}: 3 x 16 tokens, got {metrics['loss']}"
  assert abs(float(loss) - np.log(info["vocab_size"])) < 1.0, f"{name}: an untrained LM is near uniform"


def test_retnet_eval_forms_give_the_same_perplexity():
  batch, info = _lm_batch(LanguageModelTask(seq_len=16, corpus_chars=6000))
  model = archs.create_model("retnet_tiny", vocab_size=info["vocab_size"])
  variables = model.init(jax.random.PRNGKey(0), batch["inputs"])
  results = {mode: LanguageModelTask(seq_len=16, corpus_chars=6000, eval_mode=mode, eval_chunk_size=4)
             .eval_metrics(model, variables, batch, {})["perplexity"][0] for mode in ("parallel", "chunkwise",
                                                                                      "recurrent")}
  np.testing.assert_allclose(results["chunkwise"], results["parallel"], rtol=1e-4)
  np.testing.assert_allclose(results["recurrent"], results["parallel"], rtol=1e-4)


def test_lm_trainer_run_reports_perplexity_and_unigram_baseline(tmp_path):
  config = defaults.load_config("lstm")
  config.model_kwargs = {"hidden_size": 16}
  config.task_kwargs.seq_len, config.task_kwargs.corpus_chars = 16, 6000
  config.num_epochs, config.batch_size, config.steps_per_call = 1, 32, 4
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / "summary.json") as f:
    written = json.load(f)
  for key in ("eval_perplexity", "eval_unigram_perplexity", "eval_accuracy", "eval_loss"):
    assert key in written and written[key] == summary[key], f"{key} missing in summary.json: {written}"
  np.testing.assert_allclose(written["eval_perplexity"], np.exp(written["eval_loss"]), rtol=1e-6)
  # The unigram perplexity of English-like characters lies between 1 and the vocabulary size.
  assert 1.0 < written["eval_unigram_perplexity"] < 30.0
  assert written["dataset"] == "grammar_corpus", "the LM task names its own data"
  assert written["train_examples_per_sec"] > 0
  np.testing.assert_allclose(written["train_tokens_per_sec"], 16 * written["train_examples_per_sec"], rtol=1e-9,
                             err_msg="an LM example is seq_len = 16 tokens")


def test_a_task_with_its_own_data_refuses_config_dataset():
  config = defaults.load_config("lstm")
  config.dataset = "tfds:cifar10"
  with pytest.raises(errors.UserError, match="'tfds:cifar10'.*'lm' makes its own data"):
    tasks.create_task(config)


def test_task_kwargs_are_overridable_from_the_command_line(monkeypatch):
  from train import main
  argv = ["main", "--config", os.path.join(defaults.CONFIGS_DIR, "retnet.py"), "--workdir", "/tmp/unused",
          "--config.task_kwargs.eval_mode=recurrent", "--config.task_kwargs.seq_len=64"]
  monkeypatch.setattr("sys.argv", argv)  # ml_collections reads the --config.* overrides from sys.argv
  config, _ = main.parse(argv)
  task = LanguageModelTask.from_config(config)
  assert task.options["eval_mode"] == "recurrent" and task.options["seq_len"] == 64, task.options
