"""The configs' headline results, each a full run of minutes on a CPU: slow, run with `-m slow`."""

import pytest

from train import defaults, trainer


CHECKS = {
    "transformer": lambda s: s["eval_exact_match"] >= 0.99,                   # greedy decoding, whole sequence
    "lstm": lambda s: s["eval_perplexity"] < 0.2 * s["eval_unigram_perplexity"],
    "retnet": lambda s: s["eval_perplexity"] < 0.2 * s["eval_unigram_perplexity"],
    "tnn": lambda s: s["eval_perplexity"] < 0.2 * s["eval_unigram_perplexity"],
    "pondernet": lambda s: s["eval_accuracy"] >= 0.95,                        # sampled halting
    "gcn": lambda s: s["eval_accuracy"] >= 0.9,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_config_reaches_its_headline_result(name, tmp_path):
  config = defaults.load_config(name)
  config.num_devices = 1  # the configs' global batches are sized for one device
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  assert CHECKS[name](summary), f"configs/{name}.py missed its headline result: {summary}"
