"""steps_per_call on XLA:CPU: a convolutional model's K steps run as K one-step device calls (a loop body would take
XLA:CPU's slow convolution path), other models scan them; both give the result of K separate steps."""
import jax
import numpy as np
import optax
import pytest

import archs
from train import step as step_lib, tasks

pytestmark = pytest.mark.usefixtures("fast_compile")


def run(name, image_shape, k, calls):
  model = archs.create_model(name, num_classes=10)
  rng = np.random.default_rng(0)
  devices = jax.local_devices()[:2]
  batch = {"image": rng.standard_normal((2, k * calls, 4, *image_shape), np.float32),
           "label": rng.integers(0, 10, (2, k * calls, 4)).astype(np.int32)}
  task, tx = tasks.ClassificationTask(), optax.sgd(0.1, momentum=0.9)
  state = step_lib.init_state(task, model, tx, jax.tree.map(lambda x: x[0, 0, :1], batch), {}, 0, ema=False)
  state = step_lib.replicate(state, devices)
  train = step_lib.make_train_step(task, model, tx, devices=devices)
  losses = []
  for c in range(calls):
    state, metrics = train(state, jax.tree.map(lambda x: x[:, c * k:(c + 1) * k], batch), {})
    assert metrics["loss"][0].shape == (2, k), metrics["loss"][0].shape
    losses.append(np.asarray(metrics["loss"][0])[0])
  return state, np.concatenate(losses), train.convolves()


@pytest.mark.parametrize("name,image_shape,convolves", [("lenet5", (32, 32, 1), True), ("softmax_regression", (8, 8, 1), False)])
def test_k_steps_in_one_call_equal_k_calls_of_one_step(name, image_shape, convolves):
  state_k, losses_k, seen = run(name, image_shape, 3, 1)
  state_1, losses_1, _ = run(name, image_shape, 1, 3)
  assert seen is convolves, f"{name}: convolves() = {seen}"
  assert int(state_k.step) == int(state_1.step) == 3
  np.testing.assert_allclose(losses_k, losses_1, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(state_k.params), jax.tree.leaves(state_1.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
