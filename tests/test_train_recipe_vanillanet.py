"""VanillaNet's recipe mechanics: BCE on the (mixed) one-hot targets, timm's Lamb, layer-wise lr decay."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from train import defaults, errors, mixing, optim
from train.tasks.classification import ClassificationTask


class Linear(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(5)(x.reshape(x.shape[0], -1))


def _batch_and_variables():
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.standard_normal((6, 2, 2, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 5, 6), jnp.int32)}
  return batch, Linear().init(jax.random.key(1), batch["image"])


def _torch_bce(logits, targets):
  """torch.nn.functional.binary_cross_entropy_with_logits(reduction='mean') written out."""
  p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
  return float(np.mean(-(targets * np.log(p) + (1 - targets) * np.log(1 - p))))


@pytest.mark.parametrize("mix", [None, mixing.Mixing(mixup=1.0, cutmix=1.0)])
def test_bce_loss_is_sigmoid_bce_over_the_smoothed_mixed_one_hots(mix):
  batch, variables = _batch_and_variables()
  task = ClassificationTask(label_smoothing=0.1, mix=mix, loss="bce")
  task.model_overrides(None, {"num_classes": 5})
  key = jax.random.key(3)
  loss, _ = task.loss_fn(Linear(), variables, batch, {"mix": key}, True, {})
  images, targets = batch["image"], mixing.smooth_one_hot(batch["label"], 5, 0.1)
  if mix is not None:
    images, targets = mix(key, images, batch["label"], 5, 0.1)
  logits = Linear().apply(variables, images)
  expected = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, targets))
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  np.testing.assert_allclose(loss, _torch_bce(logits, np.asarray(targets)), rtol=1e-5)
  # evaluation keeps the softmax cross-entropy as its loss metric
  sums = task.eval_metrics(Linear(), variables, {**batch, "mask": jnp.ones(6)}, {})
  ce = optax.softmax_cross_entropy(Linear().apply(variables, batch["image"]),
                                   optax.smooth_labels(jax.nn.one_hot(batch["label"], 5), 0.1))
  np.testing.assert_allclose(sums["loss"][0] / sums["loss"][1], ce.mean(), rtol=1e-6)


def test_unknown_loss_is_one_line():
  with pytest.raises(errors.UserError, match="unknown loss 'bec'.*accepted: bce, cross_entropy"):
    ClassificationTask(loss="bec")


def _config(**optimizer):
  c = defaults.base_config()
  c.optimizer.name, c.learning_rate, c.weight_decay, c.schedule.name = "lamb", 0.01, 0.3, "constant"
  c.optimizer.update(optimizer)
  return c


def _params():
  rng = np.random.default_rng(0)
  leaf = lambda *shape: jnp.asarray(rng.standard_normal(shape), jnp.float32)
  names = ["stem", "stages_0", "stages_1", "stages_2", "stages_3", "head"]
  return {n: {"kernel": leaf(3, 4), "bias": leaf(4)} for n in names}, {n: {"kernel": leaf(3, 4), "bias": leaf(4)}
                                                                        for n in names}


def _update(config, params, grads):
  tx, _ = optim.make_optimizer(config, 10)
  updates, _ = tx.update(grads, tx.init(params), params)
  return updates


def test_layer_decay_scales_each_layer_as_the_authors():
  """V6 (4 stages), layer_decay 0.8: stem x 0.8^5, stages_i x 0.8^(4 - i), head x 1 (LayerDecayValueAssigner)."""
  params, grads = _params()
  plain, decayed = _update(_config(), params, grads), _update(_config(layer_decay=0.8), params, grads)
  expected = {"stem": 0.8 ** 5, "stages_0": 0.8 ** 4, "stages_1": 0.8 ** 3, "stages_2": 0.8 ** 2,
              "stages_3": 0.8, "head": 1.0}
  for name, scale in expected.items():
    for leaf in ("kernel", "bias"):
      np.testing.assert_allclose(decayed[name][leaf], scale * plain[name][leaf], rtol=1e-6, err_msg=name)


def test_layer_ids_of_vanillanet_6_and_7_are_their_stage_counts():
  for name, stages in (("vanillanet_6", 4), ("vanillanet_7", 5)):
    model = archs.create_model(name, num_classes=10, width_multiplier=1 / 16)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))["params"]
    ids, n = optim.layer_ids(shapes)
    assert n == stages and ids["stem"] == 0 and ids["head"] == stages + 1
    assert [ids[f"stages_{i}"] for i in range(stages)] == list(range(1, stages + 1))


def test_layer_decay_of_another_network_is_one_line():
  with pytest.raises(errors.UserError, match="layer_decay needs a network of stem, stages_0"):
    _update(_config(layer_decay=0.8), {"conv1": {"kernel": jnp.ones((2, 2))}}, {"conv1": {"kernel": jnp.ones((2, 2))}})


def test_lamb_adapt_all_is_optax_lamb_and_decayed_leaves_biases_to_adam():
  params, grads = _params()
  lamb = optax.lamb(0.01, eps=1e-8, weight_decay=0.3, mask=optim.decay_mask)
  reference, _ = lamb.update(grads, lamb.init(params), params)
  everywhere = _update(_config(lamb_adapt="all"), params, grads)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), everywhere, reference)
  decayed = _update(_config(lamb_adapt="decayed"), params, grads)
  adam = optax.adam(0.01, eps=1e-8)
  plain_adam, _ = adam.update(grads, adam.init(params), params)
  for name in params:  # timm's Lamb: no trust ratio where there is no weight decay (biases, norm scales)
    np.testing.assert_allclose(decayed[name]["bias"], plain_adam[name]["bias"], rtol=1e-6)
    np.testing.assert_allclose(decayed[name]["kernel"], reference[name]["kernel"], rtol=1e-6)
    assert not np.allclose(decayed[name]["bias"], reference[name]["bias"], rtol=1e-3), "biases took a trust ratio"
