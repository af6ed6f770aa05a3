"""1 device == 8 devices for the same global batch: the pmap'd step averages gradients and BatchNorm statistics.

BatchNorm normalizes with each device's own batch statistics in the forward pass (Flax ImageNet / PyTorch DDP
semantics, not SyncBN); the running mean, pmean'd over devices, is the mean over the whole global batch.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from train import data, defaults, optim, step as step_lib, tasks


pytestmark = pytest.mark.usefixtures("fast_compile")


def _run(model, config, batches, num_devices, k):
  task = tasks.ClassificationTask()
  tx, _ = optim.make_optimizer(config, steps_per_epoch=10)
  example = jax.tree.map(lambda x: x[:1], batches[0])
  state = step_lib.init_state(task, model, tx, example, {}, seed=0, ema=False)
  p_train = step_lib.make_train_step(task, model, tx, devices=jax.local_devices()[:num_devices])
  ds = data.ArraySource(jax.tree.map(lambda *xs: np.stack(xs), *batches))  # ds[i] is batch i
  for start in range(0, len(batches), k):
    state, metrics = p_train(state, data.device_batches(ds, start, k, num_devices), {})
  return jax.device_get(state), jax.device_get(metrics)


def _batches(n, size, channels=1, seed=0):
  rng = np.random.default_rng(seed)
  return [{"image": rng.standard_normal((size, 32, 32, channels), np.float32),
           "label": rng.integers(0, 10, size).astype(np.int32)} for _ in range(n)]


def test_one_device_equals_eight_devices_lenet5():
  config = defaults.base_config()
  config.optimizer.name, config.learning_rate, config.weight_decay = "momentum", 0.05, 1e-4
  model = archs.create_model("lenet5")
  batches = _batches(4, 32)
  one, m1 = _run(model, config, batches, 1, k=2)
  eight, m8 = _run(model, config, batches, 8, k=2)
  assert int(one.step) == int(eight.step) == 4
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(eight.params)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg="params after 4 steps: 1 vs 8 devices")
  np.testing.assert_allclose(m1["loss"][0][0], m8["loss"][0][0], rtol=1e-5, err_msg="summed loss 1 vs 8 devices")
  assert float(m8["loss"][1][0].sum()) == 2 * 32, "count: every example of the global batch once per step"


class TinyBN(nn.Module):
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.BatchNorm(use_running_average=not train, momentum=0.0, name="bn")(x)  # running mean = batch mean
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def test_batch_stats_mean_is_the_global_batch_mean():
  config = defaults.base_config()
  config.optimizer.name, config.learning_rate = "sgd", 0.1
  batches = _batches(1, 32, channels=3, seed=1)
  batches[0]["image"] += np.arange(32, dtype=np.float32)[:, None, None, None]  # devices see different means
  one, _ = _run(TinyBN(), config, batches, 1, k=1)
  eight, _ = _run(TinyBN(), config, batches, 8, k=1)
  full_mean = batches[0]["image"].mean(axis=(0, 1, 2))
  for state in (one, eight):
    np.testing.assert_allclose(state.model_state["batch_stats"]["bn"]["mean"], full_mean, rtol=1e-5,
                               err_msg="BN running mean (momentum 0) should be the mean over the global batch")
