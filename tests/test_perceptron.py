"""The perceptron: its criterion's SGD step is Rosenblatt's rule, and the rule separates separable data."""
import jax
import jax.numpy as jnp
import numpy as np

from archs import create_model
from archs.perceptron import perceptron_criterion
from train import defaults, trainer
from train.tasks.regression import regression_data


def sgd_step(model, params, x, y, lr):
  grads = jax.grad(lambda p: perceptron_criterion(model.apply({"params": p}, x), y).mean())(params)
  return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def test_one_sgd_step_is_rosenblatts_rule():
  """w <- w + lr s x and b <- b + lr s on a mistake (s (x w + b) <= 0, a zero score included), no change otherwise."""
  model = create_model("perceptron")
  x = jnp.asarray([[1.0, -2.0, 0.5]])
  params = model.init(jax.random.key(0), x)["params"]
  assert not np.any(np.asarray(params["linear"]["kernel"])), "weights start at zero"
  w, b = np.array([0.3, 0.4, -0.2]), 0.1  # score 0.3 - 0.8 - 0.1 + 0.1 = -0.5
  params = {"linear": {"kernel": jnp.asarray(w[:, None], jnp.float32), "bias": jnp.asarray([b], jnp.float32)}}
  for label, wrong in ((1, True), (0, False)):
    new = sgd_step(model, params, x, jnp.asarray([label]), lr=0.5)
    s = 2 * label - 1
    np.testing.assert_allclose(new["linear"]["kernel"][:, 0], w + (0.5 * s * x[0] if wrong else 0), rtol=1e-6)
    np.testing.assert_allclose(new["linear"]["bias"], [b + (0.5 * s if wrong else 0)], rtol=1e-6)
  zero = jax.tree.map(jnp.zeros_like, params)  # score exactly 0: a mistake for either label
  new = sgd_step(model, zero, x, jnp.asarray([0]), lr=1.0)
  np.testing.assert_allclose(new["linear"]["kernel"][:, 0], -x[0])


def test_rule_separates_linearly_separable_data():
  """Novikoff: on separable data the rule makes finitely many mistakes; a few epochs reach 100% on the train set."""
  data = regression_data("perceptron", 256, 4, 0.0, [0, 0])
  x, y = jnp.asarray(data["x"]), jnp.asarray(data["y"])
  model = create_model("perceptron")
  params = model.init(jax.random.key(0), x[:1])["params"]
  step = jax.jit(lambda p, xi, yi: sgd_step(model, p, xi[None], yi[None], 1.0))
  accuracy = lambda p: float(jnp.mean((model.apply({"params": p}, x) > 0) == (y == 1)))
  for epoch in range(200):
    for i in range(len(x)):
      params = step(params, x[i], y[i])
    if accuracy(params) == 1.0:
      break
  assert accuracy(params) == 1.0, f"not separated after {epoch + 1} epochs: {accuracy(params)}"


def test_perceptron_preset_trains_through_the_trainer(tmp_path):
  config = defaults.load_config("regression", "perceptron")
  config.task_kwargs.unlock()
  config.task_kwargs.train_examples, config.task_kwargs.eval_examples = 512, 256
  config.num_epochs = 3
  summary = trainer.train_and_evaluate(config, str(tmp_path))
  assert summary["model"] == "perceptron" and summary["num_params"] == 8 + 1
  assert summary["eval_accuracy"] >= 0.95, summary
