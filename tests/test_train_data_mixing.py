"""Mixup and cutmix on the device (train/mixing.py) against timm's definitions."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from train import defaults, errors, mixing, step as step_lib

KEYS = jax.random.split(jax.random.PRNGKey(0), 2000)


def _images(b=6, h=10, w=12):
  # every pixel of every image distinct, so the source of each mixed pixel can be read off
  return jnp.arange(b * h * w * 3, dtype=jnp.float32).reshape(b, h, w, 3) + 1


def test_mixup_blends_images_and_labels_with_one_lam():
  mix = mixing.Mixing(mixup=0.8)
  x, y = _images(), jnp.array([0, 1, 2, 3, 4, 5])
  out, targets = mix(KEYS[3], x, y, num_classes=7, label_smoothing=0.1)
  lam = float(mix.params(KEYS[3], 10, 12)[0])
  assert 0 < lam < 1
  np.testing.assert_allclose(out, lam * x + (1 - lam) * x[::-1], rtol=1e-6)
  np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6, err_msg="soft targets sum to one")
  off = 0.1 / 7
  np.testing.assert_allclose(targets[0, 0], lam * (1 - 0.1 + off) + (1 - lam) * off, rtol=1e-5)
  np.testing.assert_allclose(targets[0, 5], (1 - lam) * (1 - 0.1 + off) + lam * off, rtol=1e-5)


def test_lam_follows_beta_alpha_alpha():
  lams = np.asarray(jax.vmap(lambda k: mixing.Mixing(mixup=0.8).params(k, 8, 8)[0])(KEYS))
  # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
  assert abs(lams.mean() - 0.5) < 0.02 and abs(lams.var() - 1 / (4 * 2.6)) < 0.01


def test_cutmix_pastes_a_box_and_lam_is_its_corrected_area():
  mix = mixing.Mixing(cutmix=1.0)
  x, y = _images(), jnp.arange(6)
  for key in KEYS[:20]:
    out, targets = mix(key, x, y, num_classes=6)
    lam = float(mix.params(key, 10, 12)[0])
    from_partner = np.asarray((out == x[::-1]).all(-1)[0])
    np.testing.assert_array_equal(np.asarray((out == x).all(-1)[0]), ~from_partner, "each pixel from one image")
    assert np.isclose(1 - from_partner.mean(), lam), "lam = 1 - pasted area / image area"
    rows, cols = np.nonzero(from_partner)
    if rows.size:
      assert from_partner.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1), "the pasted region is a box"
    np.testing.assert_allclose(targets[0, 0], lam, rtol=1e-5)
    np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-6)


def test_mix_prob_and_switch_prob():
  both = mixing.Mixing(mixup=0.8, cutmix=1.0, prob=0.5, switch_prob=0.25)
  lam, _, cutmix = jax.vmap(lambda k: both.params(k, 8, 8))(KEYS)
  unmixed = np.asarray(lam) == 1.0
  assert abs(unmixed.mean() - 0.5) < 0.04, "half the batches unmixed"
  assert abs(np.asarray(cutmix).mean() - 0.5 * 0.25) < 0.03, "of the mixed ones, a quarter by cutmix"


def test_from_config():
  c = defaults.base_config()
  c.aug.mixup, c.aug.cutmix = 0.8, 1.0
  assert mixing.Mixing.from_config(c) is None, "augment off: nothing mixes"
  c.augment = True
  assert mixing.Mixing.from_config(c) == mixing.Mixing(0.8, 1.0, 1.0, 0.5)
  c.aug.switch_prob = 1.5
  with pytest.raises(errors.UserError, match="switch_prob=1.5"):
    mixing.Mixing.from_config(c)


class _LamTask:
  """Reports the lam each device draws (summed over devices by the step)."""

  def loss_fn(self, model, variables, batch, rngs, train, hparams):
    lam = mixing.Mixing(mixup=0.8).params(rngs["mix"], 4, 4)[0]
    loss = jnp.sum(variables["params"]["w"] ** 2)
    return loss, ({"lam": (lam, 1.0), "lam_sq": (lam ** 2, 1.0)}, {})


def test_the_mix_key_is_the_same_on_every_device_and_for_any_device_count():
  tx = optax.sgd(0.1)
  results = {}
  for n in (1, 4):
    devices = jax.local_devices()[:n]
    state = step_lib.TrainState(step=jnp.int32(3), params={"w": jnp.ones(2)}, model_state={},
                                opt_state=tx.init({"w": jnp.ones(2)}), ema=None, rng=jax.random.PRNGKey(7))
    p_train = step_lib.make_train_step(_LamTask(), None, tx, devices=devices)
    batches = {"x": np.zeros((n, 2, 1), np.float32)}
    _, metrics = p_train(step_lib.replicate(state, devices), batches, {})
    lam_sum, lam_sq_sum = float(metrics["lam"][0][0, 0]), float(metrics["lam_sq"][0][0, 0])
    assert np.isclose(lam_sq_sum / n, (lam_sum / n) ** 2, rtol=1e-5), "one lam on every device"
    results[n] = lam_sum / n
  assert np.isclose(results[1], results[4], rtol=1e-6), "the same lam with 1 and 4 devices"
