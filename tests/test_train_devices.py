"""1 device == 8 devices for the same global batch: the pmap'd step averages gradients and BatchNorm statistics.

BatchNorm normalizes with each device's own batch statistics in the forward pass (Flax ImageNet / PyTorch DDP
semantics, not SyncBN); the running mean, pmean'd over devices, is the mean over the whole global batch, and the
running variance is the mean of the devices' variances. Once-per-batch random draws (stochastic depth's block
drop, FractalNet's columns) are one draw for the global batch, whatever the device count.
"""
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from train import data, defaults, optim, step as step_lib, tasks


pytestmark = pytest.mark.usefixtures("fast_compile")


def _run(model, config, batches, num_devices, k, task=None):
  task = task or tasks.ClassificationTask()
  tx, _ = optim.make_optimizer(config, steps_per_epoch=10)
  example = jax.tree.map(lambda x: x[:1], batches[0])
  devices = step_lib.pmap_devices(num_devices)
  state = step_lib.replicate(step_lib.init_state(task, model, tx, example, {}, seed=0, ema=False), devices)
  p_train = step_lib.make_train_step(task, model, tx, devices=devices)
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
  chex.assert_trees_all_close(one.params, eight.params, rtol=2e-5, atol=2e-6,
                              custom_message="params after 4 steps: 1 vs 8 devices")
  np.testing.assert_allclose(m1["loss"][0][0], m8["loss"][0][0], rtol=1e-5, err_msg="summed loss 1 vs 8 devices")
  assert float(m8["loss"][1][0].sum()) == 2 * 32, "count: every example of the global batch once per step"


class TinyBN(nn.Module):
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.BatchNorm(use_running_average=not train, momentum=0.0, name="bn")(x)  # running mean = batch mean
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def test_batch_stats_mean_and_variance():
  config = defaults.base_config()
  config.optimizer.name, config.learning_rate = "sgd", 0.1
  batches = _batches(1, 32, channels=3, seed=1)
  batches[0]["image"] += np.arange(32, dtype=np.float32)[:, None, None, None]  # devices see different means
  one, _ = _run(TinyBN(), config, batches, 1, k=1)
  eight, _ = _run(TinyBN(), config, batches, 8, k=1)
  images = batches[0]["image"]
  full_mean = images.mean(axis=(0, 1, 2))
  for state in (one, eight):
    np.testing.assert_allclose(state.model_state["batch_stats"]["bn"]["mean"], full_mean, rtol=1e-5,
                               err_msg="BN running mean (momentum 0) should be the mean over the global batch")
  per_device_var = images.reshape(8, 4, 32, 32, 3).var(axis=(1, 2, 3)).mean(axis=0)
  np.testing.assert_allclose(one.model_state["batch_stats"]["bn"]["var"], images.var(axis=(0, 1, 2)), rtol=1e-4,
                             err_msg="1 device: BN running variance (momentum 0) = variance of the global batch")
  np.testing.assert_allclose(eight.model_state["batch_stats"]["bn"]["var"], per_device_var, rtol=1e-4,
                             err_msg="8 devices: BN running variance = mean of the 8 per-device variances")
  assert np.all(per_device_var < 0.5 * images.var(axis=(0, 1, 2))), "the test needs devices with different means"


# Small variants whose only randomness is once-per-batch (no per-example dropout).
PER_BATCH_DRAWS = {
    "resnet110_stochastic_depth": dict(depth=8, drop_path_rate=0.5),  # 3 gated blocks
    # 2 columns: with 3, a global draw of column 1 leaves whole-zero joins whose BatchNorm (variance 0) magnifies
    # float rounding 300x.
    "fractalnet20": dict(widths=(8, 8), drop_rates=(0.0, 0.0), num_columns=2),  # local and global column drops
}


@pytest.mark.parametrize("name", sorted(PER_BATCH_DRAWS))
def test_per_batch_draws_do_not_depend_on_the_device_count(name):
  # Eight copies of one 4-example batch: every device's BatchNorm statistics equal the global ones, so 1 and 8
  # devices agree exactly when they drop the same blocks/columns, and differ when each device draws its own.
  config = defaults.base_config()
  config.optimizer.name, config.learning_rate = "sgd", 0.1
  model = archs.create_model(name, **PER_BATCH_DRAWS[name])
  batches = [jax.tree.map(lambda x: np.concatenate([x] * 8), b) for b in _batches(2, 4, channels=3, seed=2)]
  one, _ = _run(model, config, batches, 1, k=1)
  eight, _ = _run(model, config, batches, 8, k=1)
  chex.assert_trees_all_close(one.params, eight.params, rtol=1e-4, atol=1e-5,
                              custom_message=f"{name}: params after 2 steps, 1 vs 8 devices")


def test_replicated_state_is_traced_once():
  """replicate() places the state where the step returns it (this process's devices): one trace for all calls."""
  config = defaults.base_config()
  config.optimizer.name = "sgd"
  task = tasks.ClassificationTask()
  task.loss_fn = chex.assert_max_traces(task.loss_fn, n=1)
  state, _ = _run(archs.create_model("lenet5"), config, _batches(3, 24), 3, k=1, task=task)
  assert int(state.step) == 3
  assert step_lib.pmap_devices(3) == tuple(jax.local_devices()[:3])
