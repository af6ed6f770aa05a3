"""Parity (PonderNet), graph (GCN, karate club) and regression tasks: data, metrics, trainer runs end to end."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs import losses
from train import defaults, trainer
from train.tasks import GraphTask, ParityTask, RegressionTask
from train.tasks.parity import parity_examples
from train.tasks.regression import regression_data


def _read_summary(path):
  with open(path / "summary.json") as f:
    return json.load(f)


# ---------------------------------------------------------------- parity
def test_parity_stream_is_a_pure_function_of_seed_and_index():
  index = jnp.arange(64, dtype=jnp.int32)
  x1, y1 = parity_examples(jax.random.PRNGKey(0), index, 8)
  x2, y2 = parity_examples(jax.random.PRNGKey(0), index[::-1], 8)
  np.testing.assert_array_equal(np.asarray(x1)[::-1], x2, err_msg="example i must not depend on its batch")
  np.testing.assert_array_equal(np.asarray(y1)[::-1], y2)
  x3, _ = parity_examples(jax.random.PRNGKey(1), index, 8)
  assert not np.array_equal(x1, x3), "another seed should give other examples"
  np.testing.assert_array_equal(y1, np.sum(np.asarray(x1) == 1.0, axis=1) % 2, err_msg="y = (#(+1)) mod 2")


def test_parity_eval_set_is_fixed_across_run_seeds():
  _, eval_a, _ = ParityTask(seed=0, eval_examples=32).datasets(None)
  _, eval_b, _ = ParityTask(seed=9, eval_examples=32).datasets(None)
  np.testing.assert_array_equal(eval_a.arrays["x"], eval_b.arrays["x"])
  np.testing.assert_array_equal(eval_a.arrays["y"], eval_b.arrays["y"])


@pytest.mark.parametrize("kl_direction,renormalize", [("forward", True), ("reverse", False)])
def test_parity_eval_loss_per_example_averages_to_ponder_loss(kl_direction, renormalize):
  task = ParityTask(n_elems=6, kl_direction=kl_direction, renormalize_prior=renormalize, lambda_p=0.3, beta=0.05)
  model = archs.create_model("pondernet_parity", hidden_size=8, max_steps=5)
  x, y = parity_examples(jax.random.PRNGKey(3), jnp.arange(16), 6)
  variables = model.init(jax.random.PRNGKey(0), x)
  out = jax.jit(model.apply)(variables, x)  # jitted: nn.scan op by op is slow
  step_losses, per_example, correct = task._per_example(out, y)
  expected, _ = losses.ponder_loss(step_losses, out["p"], lambda_p=0.3, beta=0.05, kl_direction=kl_direction,
                                   renormalize_prior=renormalize)
  np.testing.assert_allclose(per_example.mean(), expected, rtol=1e-5)
  prob = np.sum(np.asarray(out["p"]) / (1.0 + np.exp(-np.asarray(out["logits"]))), axis=0)
  np.testing.assert_array_equal(correct, (prob > 0.5) == (np.asarray(y) == 1))


def test_parity_trainer_run_reports_accuracy_and_ponder_steps(tmp_path):
  config = defaults.load_config("pondernet")
  config.model_kwargs = {"hidden_size": 8, "max_steps": 4}
  config.task_kwargs.train_examples, config.task_kwargs.eval_examples = 64, 40
  config.num_epochs, config.batch_size, config.eval_batch_size, config.steps_per_call = 1, 32, 16, 2
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  written = _read_summary(tmp_path)
  for key in ("eval_accuracy", "eval_ponder_steps", "eval_expected_accuracy", "eval_expected_ponder_steps"):
    assert written[key] == summary[key], f"{key} missing in summary.json: {written}"
  assert 0.0 <= written["eval_accuracy"] <= 1.0
  assert 1.0 <= written["eval_ponder_steps"] <= 4.0 and 1.0 <= written["eval_expected_ponder_steps"] <= 4.0
  # Sampled halting steps are integers: their sum over the 40 eval examples is a whole number.
  assert abs(written["eval_ponder_steps"] * 40 - round(written["eval_ponder_steps"] * 40)) < 1e-3


# ---------------------------------------------------------------- graph
def test_graph_eval_counts_the_test_nodes_of_real_graphs_only():
  task = GraphTask(batch_size=2)
  train, test, info = task.datasets(None)
  assert len(train) == 20 and len(test) == 1 and info == {"num_classes": 2}
  batch = {k: np.concatenate([v[None], v[None]]) for k, v in test[0].items()}
  batch["mask"] = np.array([1.0, 0.0], np.float32)  # the second graph is eval padding
  model = archs.create_model("gcn_tiny")
  variables = model.init(jax.random.PRNGKey(0), *task.init_inputs(batch))
  metrics = jax.jit(lambda v, b: task.eval_metrics(model, v, b, {}))(variables, batch)
  logits = model.apply(variables, batch["node_features"][0], batch["edges"][0])
  test_nodes = batch["test_mask"][0] > 0
  assert float(metrics["accuracy"][1]) == 32.0, "the 32 unlabelled nodes of one graph"
  expected = np.sum((np.argmax(logits, -1) == batch["labels"][0])[test_nodes])
  assert float(metrics["accuracy"][0]) == expected


def test_gcn_trainer_run_classifies_the_karate_club(tmp_path):
  config = defaults.load_config("gcn")
  config.batch_size = 8  # one graph per fake device
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  written = _read_summary(tmp_path)
  assert written["eval_accuracy"] == summary["eval_accuracy"] and written["steps"] == 200
  # Kipf & Welling's demo: from the two leaders alone the factions are recovered (archs/gcn.py: 31/32).
  assert written["eval_accuracy"] >= 0.9, f"expected >= 90% test-node accuracy, got {written['eval_accuracy']}"


# ---------------------------------------------------------------- regressions
def test_regression_data_share_the_true_model_and_are_deterministic():
  a = regression_data("linear", 100, 4, 0.5, [0, 0])
  b = regression_data("linear", 100, 4, 0.5, [0, 1])
  w, *_ = np.linalg.lstsq(np.c_[a["x"], np.ones(100)], a["y_clean"], rcond=None)
  np.testing.assert_allclose(np.c_[b["x"], np.ones(100)] @ w, b["y_clean"], rtol=1e-4, atol=1e-4,
                             err_msg="train and eval must come from the same line")
  np.testing.assert_array_equal(a["y"], regression_data("linear", 100, 4, 0.5, [0, 0])["y"])


def test_regression_metrics_equal_the_direct_computation():
  task = RegressionTask(kind="linear")
  arrays = regression_data("linear", 6, 8, 0.5, [0, 1])
  batch = {**arrays, "mask": np.array([1, 1, 1, 1, 0, 0], np.float32)}
  model = archs.create_model("linear_regression")
  variables = model.init(jax.random.PRNGKey(0), batch["x"])
  m = task.eval_metrics(model, variables, batch, {})
  pred = np.asarray(model.apply(variables, batch["x"]))[:4, 0]
  np.testing.assert_allclose(np.divide(*m["mse"]), np.mean((pred - arrays["y"][:4]) ** 2), rtol=1e-5)
  np.testing.assert_allclose(np.divide(*m["bayes_mse"]), np.mean((arrays["y_clean"][:4] - arrays["y"][:4]) ** 2),
                             rtol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "logistic", "softmax"])
def test_regression_trainer_runs(kind, tmp_path):
  config = defaults.load_config("regression", kind)
  config.num_epochs = 5
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  written = _read_summary(tmp_path)
  assert written == {**summary, "wall_seconds": written["wall_seconds"]}
  if kind == "linear":  # least squares on 2048 examples is within a few % of the noise floor
    assert written["eval_mse"] < 1.1 * written["eval_bayes_mse"], written
  elif kind == "logistic":
    assert written["eval_accuracy"] > written["eval_bayes_accuracy"] - 0.05, written
  else:
    assert written["eval_accuracy"] > 0.85, f"softmax regression on digits: {written}"


def test_one_step_per_call_equals_steps_scanned_in_one_call():
  """steps_per_call = 1 takes the step without lax.scan (fast convolutions on CPU); the result is the same."""
  from train import data, defaults, optim, step as step_lib
  task, model = RegressionTask(kind="linear"), archs.create_model("linear_regression")
  config = defaults.base_config()
  tx, _ = optim.make_optimizer(config, steps_per_epoch=10)
  arrays = regression_data("linear", 64, 8, 0.5, [0, 0])
  ds = data.ArraySource({k: v.reshape(2, 32, *v.shape[1:]) for k, v in arrays.items()})  # ds[i] is batch i
  init = lambda: step_lib.replicate(step_lib.init_state(task, model, tx, ds[0], {}, seed=0, ema=False))
  p_train = step_lib.make_train_step(task, model, tx)
  scanned, _ = p_train(init(), data.device_batches(ds, 0, 2, 8), {})
  single, _ = p_train(init(), data.device_batches(ds, 0, 1, 8), {})
  single, metrics = p_train(single, data.device_batches(ds, 1, 1, 8), {})
  assert int(single.step) == int(scanned.step) == 2 and metrics["loss"][0].shape == (8, 1)
  chex.assert_trees_all_close(single.params, scanned.params, rtol=1e-6, atol=1e-7,
                              custom_message="K = 1 twice vs K = 2 scanned")
