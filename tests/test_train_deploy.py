"""Deploy export (archs.get_to_deploy), and EMA evaluation."""
import json

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from train import defaults, optim, step as step_lib, tasks, trainer


class TinyRep(nn.Module):
  """Train form: two parallel linear branches, summed (a RepVGG-style block); deploy form: one merged Dense."""
  num_classes: int = 10
  deploy: bool = False
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    h = x.reshape(x.shape[0], -1)
    if self.deploy:
      return nn.Dense(self.num_classes, name="merged")(h)
    return nn.Dense(self.num_classes, name="a")(h) + nn.Dense(self.num_classes, name="b")(h)


def tiny_rep_to_deploy(variables):
  p = variables["params"]
  return {"params": {"merged": jax.tree.map(lambda a, b: a + b, p["a"], p["b"])}}


def test_export_deploy_evaluates_and_saves(tmp_path, temporary_model):
  c = defaults.base_config()
  c.model = temporary_model(TinyRep, "_test_tiny_rep", to_deploy=tiny_rep_to_deploy)
  c.dataset, c.image_size, c.synthetic_examples = "synthetic", 8, 64
  c.batch_size, c.num_epochs, c.num_devices, c.export_deploy, c.ema_decay = 16, 2, 2, True, 0.9
  summary = trainer.train_and_evaluate(c, str(tmp_path))
  assert summary["deploy_eval_accuracy"] == pytest.approx(summary["eval_accuracy"]), \
      "the merged deploy form computes the same function: same accuracy"
  assert summary["deploy_eval_loss"] == pytest.approx(summary["eval_loss"], rel=1e-5)
  saved = ocp.StandardCheckpointer().restore(str(tmp_path / "deploy"))
  assert saved["params"]["merged"]["kernel"].shape == (64, 10)
  assert json.loads((tmp_path / "summary.json").read_text())["deploy_eval_accuracy"] == summary["deploy_eval_accuracy"]
  events = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [e["step"] for e in events if e["kind"] == "eval"] == [4, 8], "one evaluation per epoch (4 steps each)"
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*")), "TensorBoard event file expected"


class TinyBN(nn.Module):
  """Dense -> BatchNorm: the EMA must average the BatchNorm statistics too (timm's ModelEma does)."""
  num_classes: int = 10
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    h = nn.Dense(self.num_classes, use_bias=False)(x.reshape(x.shape[0], -1))  # a bias before BN gets no gradient
    return nn.BatchNorm(use_running_average=not train, momentum=0.5)(h)


def test_ema_is_the_moving_average_of_params_and_batch_stats():
  c = defaults.base_config()
  c.optimizer.name, c.learning_rate = "sgd", 0.5
  model, task = TinyBN(), tasks.ClassificationTask()
  tx, _ = optim.make_optimizer(c, 1)
  rng = np.random.default_rng(0)
  batch = {"image": rng.standard_normal((1, 1, 4, 8, 8, 1), np.float32), "label": np.zeros((1, 1, 4), np.int32)}
  state = step_lib.init_state(task, model, tx, jax.tree.map(lambda x: x[0, 0, :1], batch), {}, 0, ema=True)
  before = jax.device_get(state.eval_variables())
  p_train = step_lib.make_train_step(task, model, tx, ema_decay=0.75, devices=jax.local_devices()[:1])
  state, _ = p_train(step_lib.replicate(state, jax.local_devices()[:1]), batch, {})
  live = jax.device_get({"params": state.params, **state.model_state})
  assert set(state.ema) == {"params", "batch_stats"}, f"EMA holds {set(state.ema)}"
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(live)):
    assert not np.allclose(a, b), "the step changed every parameter and statistic"
  chex.assert_trees_all_close(state.ema, jax.tree.map(lambda a, b: 0.75 * a + 0.25 * b, before, live), rtol=1e-6,
                              custom_message="ema = d ema + (1-d) live")
  assert state.eval_variables() is state.ema, "evaluation uses the EMA variables"
