"""MLP, the regressions and their losses, against formulas and the least-squares solution."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from archs.losses import binary_cross_entropy_with_logits, mse, softmax_cross_entropy
from archs.mlp import MLP


def test_mse_formula():
  a, b = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 0.5])
  np.testing.assert_allclose(mse(jnp.asarray(a), jnp.asarray(b)), (a - b) ** 2, err_msg="(p - t)^2")


def test_bce_matches_formula_for_moderate_logits():
  z = np.linspace(-6, 6, 13).astype(np.float32)
  y = (np.arange(13) % 2).astype(np.float32)
  s = 1 / (1 + np.exp(-z.astype(np.float64)))
  expected = -y * np.log(s) - (1 - y) * np.log(1 - s)
  np.testing.assert_allclose(binary_cross_entropy_with_logits(jnp.asarray(z), jnp.asarray(y)), expected,
                             rtol=1e-5, atol=1e-6, err_msg="-y log s - (1-y) log(1-s)")


def test_bce_is_stable_for_large_logits():
  z = jnp.array([100.0, -100.0, 100.0, -100.0, 1e4])
  y = jnp.array([0.0, 1.0, 1.0, 0.0, 0.0])
  loss = binary_cross_entropy_with_logits(z, y)
  np.testing.assert_allclose(loss, [100.0, 100.0, 0.0, 0.0, 1e4], atol=1e-5,
                             err_msg="BCE of a confident logit is |z| when wrong, 0 when right")
  grads = jax.grad(lambda z: binary_cross_entropy_with_logits(z, y).sum())(z)
  np.testing.assert_allclose(grads, [1.0, -1.0, 0.0, 0.0, 1.0], atol=1e-6, err_msg="gradient s(z) - y")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy_formula(smoothing):
  logits = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
  labels = np.array([0, 3, 4, 1])
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  targets = (1 - smoothing) * np.eye(5)[labels] + smoothing / 5
  expected = -(targets * log_probs).sum(-1)
  np.testing.assert_allclose(softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), smoothing),
                             expected, rtol=1e-5, err_msg=f"CE with label smoothing {smoothing}")
  with pytest.raises(ValueError, match="label_smoothing"):
    softmax_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), 1.5)


def test_linear_regression_recovers_least_squares():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 3)).astype(np.float32)
  w_true, b_true = np.array([[1.5], [-2.0], [0.5]], np.float32), 0.7
  y = x @ w_true + b_true + 0.1 * rng.normal(size=(64, 1)).astype(np.float32)
  design = np.concatenate([x, np.ones((64, 1), np.float32)], axis=1)
  solution = np.linalg.lstsq(design, y, rcond=None)[0][:, 0]
  model = archs.create_model("linear_regression")
  params = model.init(jax.random.key(0), x)
  tx = optax.sgd(0.1)

  def step(carry, _):
    params, opt_state = carry
    grads = jax.grad(lambda p: mse(model.apply(p, x), y).mean())(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), None, length=300))(params)
  linear = params["params"]["linear"]
  fitted = np.concatenate([np.asarray(linear["kernel"])[:, 0], np.asarray(linear["bias"])])
  np.testing.assert_allclose(fitted, solution, atol=1e-4, err_msg="gradient descent != np.linalg.lstsq")
  np.testing.assert_allclose(fitted, [1.5, -2.0, 0.5, 0.7], atol=0.05, err_msg="true weights")


def test_output_shapes_and_counts():
  x = jnp.zeros((2, 4, 4, 1))  # trailing axes are flattened: 16 features
  names = ["linear_regression", "logistic_regression", "softmax_regression", "mlp"]
  shapes = {name: jax.eval_shape(archs.create_model(name).init_with_output, jax.random.key(0), x) for name in names}
  assert shapes["linear_regression"][0].shape == (2, 1), "linear_regression -> (B, 1)"
  assert shapes["logistic_regression"][0].shape == (2,), "logistic_regression -> (B,) logits"
  assert shapes["softmax_regression"][0].shape == (2, 10), "softmax_regression -> (B, 10)"
  assert shapes["mlp"][0].shape == (2, 10), "mlp -> (B, 10)"
  count = lambda v: sum(int(np.prod(a.shape)) for a in jax.tree.leaves(v[1]["params"]))
  assert count(shapes["mlp"]) == (16 + 1) * 32 + (32 + 1) * 10, "mlp (16 -> 32 -> 10) params"
  assert count(shapes["softmax_regression"]) == 17 * 10, "softmax regression params (16 + 1) x 10"


def test_mlp_activation_by_name_and_dropout():
  x = jax.random.normal(jax.random.key(0), (8, 5))
  model = MLP(hidden_sizes=(16, 16), num_classes=3, activation="gelu", dropout_rate=0.5)
  variables = model.init(jax.random.key(1), x)
  p = variables["params"]
  h = jax.nn.gelu(x @ p["hidden_0"]["kernel"] + p["hidden_0"]["bias"], approximate=False)
  h = jax.nn.gelu(h @ p["hidden_1"]["kernel"] + p["hidden_1"]["bias"], approximate=False)
  expected = h @ p["head"]["kernel"] + p["head"]["bias"]
  np.testing.assert_allclose(model.apply(variables, x), expected, rtol=1e-5, atol=1e-6,
                             err_msg="eval MLP != exact-GELU dense stack")
  trained = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(trained, expected), "dropout should change the training output"
  with pytest.raises(ValueError, match="unknown activation"):
    MLP(activation="relu6").init(jax.random.key(0), x)
