"""L1 regularisation beside weight decay, and what the decay mask leaves out (train/optim.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from train import defaults, optim


def _config(name, **settings):
  c = defaults.base_config()
  c.num_epochs, c.schedule.name, c.optimizer.name = 1, "constant", name
  for k, v in settings.items():
    c[k] = v
  return c


def test_l1_sgd_update_is_the_sign_term():
  """SGD with L1: update = -lr (g + l1 sign(w)) on masked params, -lr g on biases."""
  tx, _ = optim.make_optimizer(_config("sgd", l1=0.01, learning_rate=0.5), steps_per_epoch=1)
  params = {"kernel": jnp.array([[2.0, -3.0], [0.0, 0.5]]), "bias": jnp.array([1.0, -1.0])}
  grads = {"kernel": jnp.array([[0.1, 0.2], [0.3, -0.4]]), "bias": jnp.array([0.1, 0.2])}
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["kernel"], -0.5 * (grads["kernel"] + 0.01 * np.sign(params["kernel"])),
                             rtol=1e-6, err_msg="kernel: -lr (g + l1 sign(w)), sign(0) = 0")
  np.testing.assert_allclose(updates["bias"], -0.5 * grads["bias"], rtol=1e-6, err_msg="bias: not regularised")


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_l1_pulls_masked_weights_towards_zero(name):
  tx, _ = optim.make_optimizer(_config(name, l1=0.1, learning_rate=1.0), steps_per_epoch=1)
  params = {"kernel": jnp.array([[1.0, -1.0], [2.0, -2.0]]), "bias": jnp.ones(2)}
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  assert np.all(np.sign(updates["kernel"]) == -np.sign(params["kernel"])), f"{name}: L1 moves kernels towards 0"
  assert np.all(np.asarray(updates["bias"]) == 0), f"{name}: a bias must not get L1"


def test_l1_is_validated():
  from train import validate
  with pytest.raises(Exception, match="l1"):
    validate.check_values(_config("sgd", l1=-1.0))


def test_mask_leaves_out_vit_and_swin_position_tables():
  for name, skipped in (("vit_tiny_patch16_224", ("pos_embed", "cls_token")),
                        ("swin_tiny_patch4_window7_224", ("relative_position_bias_table",))):
    model = archs.create_model(name, num_classes=10)
    size = 32 if name.startswith("vit") else 64
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))["params"]
    mask = optim.decay_mask(shapes)
    leaves = {jax.tree_util.keystr(p): m for p, m in jax.tree_util.tree_leaves_with_path(mask)}
    shapes_by_path = {jax.tree_util.keystr(p): s for p, s in jax.tree_util.tree_leaves_with_path(shapes)}
    for path, decayed in leaves.items():
      last = path.rsplit("'", 2)[-2]
      expected = shapes_by_path[path].ndim > 1 and last not in skipped
      assert decayed == expected, f"{name}: {path} decayed={decayed}, expected {expected}"
    assert sum(1 for p in leaves if any(s in p for s in skipped)) >= len(skipped), f"{name}: {skipped} not found"
