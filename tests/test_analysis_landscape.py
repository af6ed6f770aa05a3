"""Oracles for archs.analysis.landscape: a quadratic loss (closed-form surface) and the per-filter norms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs.analysis import landscape

A = np.diag([1.0, 4.0, 9.0, 0.5, 2.0, 3.0]).astype(np.float32) + 0.1
B = np.arange(6, dtype=np.float32) / 10


def quadratic(params):
  theta = jnp.concatenate([params["w"].ravel(), params["b"]])
  return {"loss": 0.5 * theta @ A @ theta + B @ theta, "first": theta[0]}


def closed_form(theta):
  return 0.5 * theta @ A @ theta + B @ theta


PARAMS = {"w": jnp.array([[0.3, -0.2], [0.1, 0.4]]), "b": jnp.array([0.5, -1.0])}


def test_surface_equals_the_closed_form_on_a_quadratic():
  flat = lambda p: np.concatenate([np.ravel(p["w"]), np.asarray(p["b"])])
  d1 = {"w": jnp.array([[1.0, 0.0], [0.0, 2.0]]), "b": jnp.array([0.0, 1.0])}
  d2 = {"w": jnp.array([[0.0, -1.0], [1.0, 0.0]]), "b": jnp.array([0.5, 0.0])}
  axis, coords = landscape.grid(span=1.5, points=7, dims=2)
  got = landscape.surface(quadratic, PARAMS, [d1, d2], coords, chunk=5)  # 49 points: a ragged last chunk
  want = [closed_form(flat(PARAMS) + x * flat(d1) + y * flat(d2)) for x, y in coords]
  np.testing.assert_allclose(got["loss"], want, rtol=1e-5, atol=1e-5)
  assert got["loss"].reshape(7, 7)[3, 3] == pytest.approx(closed_form(flat(PARAMS)), rel=1e-6)


def test_interpolation_ends_at_both_parameter_sets():
  other = jax.tree.map(lambda p: -2 * p + 1, PARAMS)
  got = landscape.interpolation(quadratic, PARAMS, other, [0.0, 0.5, 1.0])
  flat = lambda p: np.concatenate([np.ravel(p["w"]), np.asarray(p["b"])])
  want = [closed_form((1 - a) * flat(PARAMS) + a * flat(other)) for a in (0.0, 0.5, 1.0)]
  np.testing.assert_allclose(got["loss"], want, rtol=1e-5)


def test_direction_is_normalised_per_filter_and_zero_on_biases():
  params = {"conv": {"kernel": jax.random.normal(jax.random.key(0), (3, 3, 4, 5)), "bias": jnp.ones(5)},
            "bn": {"scale": jnp.ones(5), "bias": jnp.zeros(5)},
            "dense": {"kernel": 3 * jax.random.normal(jax.random.key(1), (20, 7))}}
  d = landscape.filter_normalized_direction(jax.random.key(2), params)
  for name, axes in (("conv", (0, 1, 2)), ("dense", (0,))):
    w, v = params[name]["kernel"], d[name]["kernel"]
    np.testing.assert_allclose(jnp.sqrt((v ** 2).sum(axes)), jnp.sqrt((w ** 2).sum(axes)), rtol=1e-5)
    assert not np.allclose(v / jnp.linalg.norm(v), w / jnp.linalg.norm(w))  # random, not the weights themselves
  for leaf in (d["conv"]["bias"], d["bn"]["scale"], d["bn"]["bias"]):
    assert not np.any(leaf)


def test_bad_coords_and_dims_are_one_line():
  with pytest.raises(ValueError, match=r"coords shape \(4, 1\); accepted: \(points, 2\)"):
    landscape.surface(quadratic, PARAMS, [PARAMS, PARAMS], np.zeros((4, 1)))
  with pytest.raises(ValueError, match="dims=3; accepted"):
    landscape.grid(dims=3)
