"""Oracles for archs.analysis.hessian: a small MLP whose dense Hessian (jax.hessian) is cheap."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from archs.analysis import hessian


class TinyMLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(3)(jnp.tanh(nn.Dense(6)(x)))


@pytest.fixture(scope="module")
def problem():
  x = jax.random.normal(jax.random.key(1), (32, 4))
  y = jax.random.randint(jax.random.key(2), (32,), 0, 3)
  model = TinyMLP()
  params = model.init(jax.random.key(0), x)["params"]

  def loss_fn(p):
    logits = model.apply({"params": p}, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))
  flat, unravel = ravel_pytree(params)
  dense = np.asarray(jax.hessian(lambda f: loss_fn(unravel(f)))(flat), np.float64)
  return loss_fn, params, dense, np.linalg.eigvalsh(dense)


def test_hvp_equals_dense_hessian_times_v(problem):
  loss_fn, params, dense, _ = problem
  v = jax.tree.map(lambda p: jax.random.normal(jax.random.key(3), p.shape), params)
  got = ravel_pytree(hessian.hvp(loss_fn, params, v))[0]
  np.testing.assert_allclose(got, dense @ np.asarray(ravel_pytree(v)[0]), rtol=1e-4, atol=1e-5)


def test_lanczos_top_eigenvalues_equal_eigvalsh(problem):
  loss_fn, params, _, eig = problem
  got = hessian.top_eigenvalues(loss_fn, params, k=3, num_steps=40)
  np.testing.assert_allclose(got, eig[::-1][:3], rtol=1e-3)


def test_the_batch_is_an_argument_of_the_same_function(problem):
  loss_fn, params, _, eig = problem
  x, y = jnp.ones((32, 4)), jnp.zeros((32,), jnp.int32)
  model = TinyMLP()

  def batched(p, batch):
    logits = model.apply({"params": p}, batch[0])
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), batch[1][:, None], 1))
  closed = lambda p: batched(p, (x, y))
  np.testing.assert_allclose(hessian.top_eigenvalues(batched, params, (x, y), k=2, num_steps=20),
                             hessian.top_eigenvalues(closed, params, k=2, num_steps=20), rtol=1e-5)


def test_power_iteration_with_deflation_finds_the_largest_magnitudes(problem):
  loss_fn, params, _, eig = problem
  by_magnitude = eig[np.argsort(-np.abs(eig))]
  got = hessian.power_iteration(loss_fn, params, k=2, num_iters=1000, tol=1e-7)
  np.testing.assert_allclose(got, by_magnitude[:2], rtol=1e-3)


def test_hutchinson_trace_within_its_standard_error(problem):
  loss_fn, params, dense, _ = problem
  estimate, stderr = hessian.hutchinson_trace(loss_fn, params, num_samples=200)
  assert stderr > 0
  assert abs(estimate - np.trace(dense)) < 4 * stderr


def test_slq_density_integrates_to_one_and_matches_the_dense_moments(problem):
  loss_fn, params, dense, eig = problem
  nodes, weights = hessian.slq(loss_fn, params, num_runs=64, num_steps=30)
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-4)
  grid = np.linspace(eig.min() - 1, eig.max() + 1, 4001)
  assert np.trapezoid(hessian.density(nodes, weights, grid, sigma=0.01), grid) == pytest.approx(1.0, abs=1e-3)
  per_run = np.array([hessian.moments(nodes[i:i + 1], weights[i:i + 1]) for i in range(len(nodes))])
  stderr = per_run.std(0, ddof=1) / np.sqrt(len(nodes))
  estimate = np.array(hessian.moments(nodes, weights))
  np.testing.assert_allclose(estimate, per_run.mean(0), rtol=1e-6)
  dense_moments = np.array([eig.mean(), (eig ** 2).mean()])
  assert np.all(np.abs(estimate - dense_moments) < 4 * stderr), (estimate, dense_moments, stderr)


def test_bad_k_is_one_line(problem):
  loss_fn, params, _, _ = problem
  with pytest.raises(ValueError, match="k=0; accepted"):
    hessian.top_eigenvalues(loss_fn, params, k=0)


@pytest.mark.parametrize("host_loop", [False, pytest.param(True, marks=pytest.mark.slow)])  # host: ~4 s eager
def test_spectrum_from_one_product_program_matches_the_dense_hessian(problem, host_loop):
  loss_fn, params, dense, eig = problem
  got = hessian.spectrum(loss_fn, params, top_k=3, num_runs=2, num_steps=40, trace_samples=64,
                         host_loop=host_loop)
  np.testing.assert_allclose(got["top_eigenvalues"], eig[::-1][:3], rtol=1e-3)
  assert got["trace_stderr"] > 0 and abs(got["trace"] - np.trace(dense)) < 4 * got["trace_stderr"]
  assert got["nodes"].shape == got["weights"].shape == (2, 40)
  np.testing.assert_allclose(got["weights"].sum(-1), 1.0, rtol=1e-4)
  assert eig.min() - 1e-3 <= got["nodes"].min() and got["nodes"].max() <= eig.max() * (1 + 1e-4)


@pytest.mark.slow  # ~5 s: two programs, one of them op by op
@pytest.mark.usefixtures("fast_compile")
def test_spectrum_host_loop_equals_the_compiled_loop(problem):
  loss_fn, params, _, _ = problem
  args = dict(top_k=2, num_runs=3, num_steps=4, trace_samples=5, seed=3)
  host, device = (hessian.spectrum(loss_fn, params, host_loop=h, **args) for h in (True, False))
  for key in ("top_eigenvalues", "nodes", "weights"):
    np.testing.assert_allclose(host[key], device[key], rtol=1e-4, atol=1e-5, err_msg=key)
  assert host["trace"] == pytest.approx(device["trace"], rel=1e-5)
  assert not hessian.host_loop_by_default(loss_fn, params), "an MLP has no convolution: one compiled loop"
