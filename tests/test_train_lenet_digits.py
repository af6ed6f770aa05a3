"""The LeNet-5 config reaches >= 97% test accuracy on the embedded digits.

Its time (the issue asks for under 3 minutes on a 2-core CPU) is measured by the README's main command, not
asserted here: a timed unit test fails on a loaded machine for reasons unrelated to the code.
"""
import time

from train import defaults, trainer


def test_lenet5_digits_accuracy(tmp_path):
  config = defaults.load_config("lenet5")
  config.num_devices = 1  # the CLI run uses the machine's devices; 1 is what a plain CPU run has
  start = time.perf_counter()
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  seconds = time.perf_counter() - start
  print(f"lenet5 digits: accuracy {summary['eval_accuracy']:.4f} in {seconds:.1f} s")
  assert summary["eval_accuracy"] >= 0.97, f"expected >= 97% test accuracy, got {summary['eval_accuracy']:.4f}"
