"""The ResNet family's layers: BAM, BlurPool, Squeeze-Excite, Huang's stochastic depth, ResNet-D's pool."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs.layers.bam import BAM
from archs.layers.blurpool import BlurPool, binomial_filter
from archs.layers.squeeze_excite import SqueezeExcite
from archs.layers.stochastic_depth import StochasticDepth, linear_decay_rates
from archs.resnet import avg_pool_ceil
from helpers import n_params


def randomize(params, seed, scale=0.3):
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [scale * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])


# ---- BAM ----

@pytest.mark.parametrize("channels,expected", [(256, 17_361), (512, 68_513), (1024, 272_193)])
def test_bam_param_count(channels, expected):
  shapes = jax.eval_shape(lambda: BAM().init(jax.random.key(0), jnp.zeros((1, 8, 8, channels))))
  assert n_params(shapes["params"]) == expected, f"BAM({channels}) should have {expected:,} params"


def np_conv(x, kernel, bias, dilation=1):
  """'Same' conv of odd kernel in numpy: zero padding dilation * (k - 1) / 2."""
  k = kernel.shape[0]
  pad = dilation * (k - 1) // 2
  xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  h, w = x.shape[1:3]
  out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
  for i in range(k):
    for j in range(k):
      out += xp[:, i * dilation:i * dilation + h, j * dilation:j * dilation + w, :] @ kernel[i, j]
  return out + bias


def np_bn_eval(x, p, s):
  return (x - s["mean"]) / np.sqrt(s["var"] + 1e-5) * p["scale"] + p["bias"]


def np_bam_maps(x, p, s):
  relu = lambda v: np.maximum(v, 0)
  mc = x.mean(axis=(1, 2)) @ p["channel_fc1"]["kernel"] + p["channel_fc1"]["bias"]
  mc = relu(np_bn_eval(mc, p["channel_bn"], s["channel_bn"]))
  mc = (mc @ p["channel_fc2"]["kernel"] + p["channel_fc2"]["bias"])[:, None, None, :]
  ms = relu(np_bn_eval(np_conv(x, p["spatial_reduce"]["kernel"], p["spatial_reduce"]["bias"]),
                       p["spatial_reduce_bn"], s["spatial_reduce_bn"]))
  for i in range(2):
    conv = p[f"spatial_dilated{i}"]
    ms = relu(np_bn_eval(np_conv(ms, conv["kernel"], conv["bias"], dilation=4), p[f"spatial_dilated{i}_bn"],
                         s[f"spatial_dilated{i}_bn"]))
  ms = np_conv(ms, p["spatial_final"]["kernel"], p["spatial_final"]["bias"])
  return mc, ms


@pytest.mark.parametrize("combine", ["sum", "product"])
def test_bam_matches_numpy_reference(combine):
  x = np.random.default_rng(0).normal(size=(2, 9, 9, 32)).astype(np.float32)
  bam = BAM(combine=combine)
  variables = bam.init(jax.random.key(1), x)
  params = randomize(variables["params"], 2)
  stats = jax.tree.map(lambda a: np.abs(np.asarray(a)) + 0.5, randomize(variables["batch_stats"], 3))
  got = np.asarray(bam.apply({"params": params, "batch_stats": stats}, x, train=False))
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  mc, ms = np_bam_maps(x.astype(np.float64), p, stats)
  sig = lambda v: 1 / (1 + np.exp(-v))
  if combine == "sum":  # paper: F' = F + F * sigmoid(Mc + Ms)
    want = x + x * sig(mc + ms)
  else:  # reference code: F * (1 + sigmoid(Mc * Ms))
    want = x * (1 + sig(mc * ms))
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"BAM combine={combine}")


def test_bam_defaults_to_paper_sum_and_rejects_unknown_combine():
  assert BAM().combine == "sum", "the paper's sum is the documented default"
  with pytest.raises(ValueError, match="unknown BAM combine 'max'"):
    BAM(combine="max").init(jax.random.key(0), jnp.zeros((1, 4, 4, 32)))


def test_bam_train_mode_updates_its_batch_stats():
  x = jax.random.normal(jax.random.key(0), (4, 6, 6, 32))
  variables = BAM().init(jax.random.key(1), x)
  _, new = BAM().apply(variables, x, train=True, mutable=["batch_stats"])
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], new["batch_stats"])
  assert all(jax.tree.leaves(changed)), "all four BAM BatchNorms must update their statistics in train mode"


# ---- BlurPool ----

BINOMIAL_ROWS = {1: [1], 2: [1, 1], 3: [1, 2, 1], 4: [1, 3, 3, 1], 5: [1, 4, 6, 4, 1], 6: [1, 5, 10, 10, 5, 1],
                 7: [1, 6, 15, 20, 15, 6, 1]}


@pytest.mark.parametrize("size", sorted(BINOMIAL_ROWS))
def test_blur_filter_is_normalized_binomial_outer_product(size):
  row = np.array(BINOMIAL_ROWS[size], np.float64)
  np.testing.assert_allclose(binomial_filter(size), np.outer(row, row) / row.sum() ** 2, rtol=1e-15,
                             err_msg=f"filter of size {size}")


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("height", [5, 8, 11, 16])
def test_blurpool_output_size_and_value(size, height):
  x = np.random.default_rng(size * 100 + height).normal(size=(2, height, height + 1, 3)).astype(np.float32)
  blur = BlurPool(filter_size=size)
  variables = blur.init(jax.random.key(0), x)
  assert n_params(variables) == 0, "BlurPool is parameter-free"
  got = np.asarray(blur.apply(variables, x))
  assert got.shape == (2, math.ceil(height / 2), math.ceil((height + 1) / 2), 3), f"ceil(H/2) output, got {got.shape}"
  # numpy: reflect pad (f-1)//2 before, ceil((f-1)/2) after, full-resolution blur, then every second pixel.
  lo, hi = (size - 1) // 2, size // 2
  xp = np.pad(x.astype(np.float64), ((0, 0), (lo, hi), (lo, hi), (0, 0)), mode="reflect")
  filt = binomial_filter(size)
  full = sum(filt[i, j] * xp[:, i:i + height, j:j + height + 1, :] for i in range(size) for j in range(size))
  np.testing.assert_allclose(got, full[:, ::2, ::2, :], rtol=1e-5, atol=1e-5, err_msg=f"BlurPool(f={size})")


def test_blurpool_keeps_constants_and_validates_pad_mode():
  np.testing.assert_allclose(BlurPool().apply({}, 3.0 * jnp.ones((1, 7, 7, 2))), 3.0, rtol=1e-6,
                             err_msg="a normalized filter keeps a constant image constant")
  with pytest.raises(ValueError, match="unknown BlurPool pad_mode 'circular'"):
    BlurPool(pad_mode="circular").apply({}, jnp.ones((1, 4, 4, 1)))
  with pytest.raises(ValueError, match="blur filter size must be >= 1"):
    binomial_filter(0)


# ---- Squeeze-Excite ----

def test_squeeze_excite_matches_formula_and_count():
  x = np.random.default_rng(1).normal(size=(2, 5, 5, 64)).astype(np.float32)
  se = SqueezeExcite(reduction=16)
  params = randomize(se.init(jax.random.key(0), x)["params"], 4)
  assert n_params(params) == 2 * 64 * 4 + 4 + 64, "SE(64, r=16): two FCs 64->4->64 with biases"
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  s = np.maximum(x.mean(axis=(1, 2)) @ p["fc1"]["kernel"] + p["fc1"]["bias"], 0)
  s = 1 / (1 + np.exp(-(s @ p["fc2"]["kernel"] + p["fc2"]["bias"])))
  np.testing.assert_allclose(se.apply({"params": params}, x), x * s[:, None, None, :], rtol=1e-5, atol=1e-6,
                             err_msg="SE = x * sigmoid(W2 relu(W1 GAP(x)))")


# ---- Huang et al.'s stochastic depth ----

def test_linear_decay_rule():
  np.testing.assert_allclose(linear_decay_rates(0.5, 4), [0.125, 0.25, 0.375, 0.5],
                             err_msg="death rate (l / L)(1 - p_L) for l = 1..L")


def test_stochastic_depth_one_gate_per_batch_no_rescale_and_expected_value_at_eval():
  branch = jax.random.normal(jax.random.key(0), (6, 3, 3, 4))
  sd = StochasticDepth(rate=0.3)
  np.testing.assert_allclose(sd.apply({}, branch, train=False), 0.7 * branch, rtol=1e-6,
                             err_msg="at test the branch is scaled by its survival probability")
  kept = 0
  for seed in range(200):
    out = sd.apply({}, branch, train=True, rngs={"dropout": jax.random.key(seed)})
    whole = bool(jnp.all(out == branch))
    assert whole or bool(jnp.all(out == 0)), "one gate for the whole mini-batch, no rescaling"
    kept += whole
  assert 120 <= kept <= 160, f"survival frequency should be ~0.7 of 200, got {kept}"
  np.testing.assert_allclose(StochasticDepth(0.0).apply({}, branch, train=True), branch, err_msg="rate 0 = identity")
  with pytest.raises(ValueError, match="rate must be in"):
    StochasticDepth(1.0).apply({}, branch, train=True, rngs={"dropout": jax.random.key(0)})


# ---- ResNet-D's shortcut pool ----

@pytest.mark.parametrize("h,w", [(4, 6), (5, 7), (1, 3)])
def test_avg_pool_ceil_mode_excludes_padding(h, w):
  x = np.random.default_rng(h * w).normal(size=(1, h, w, 2)).astype(np.float32)
  want = np.zeros((1, -(-h // 2), -(-w // 2), 2))
  for i in range(want.shape[1]):
    for j in range(want.shape[2]):
      want[0, i, j] = x[0, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(axis=(0, 1))  # partial windows: mean of what exists
  np.testing.assert_allclose(avg_pool_ceil(jnp.asarray(x), 2), want, rtol=1e-6,
                             err_msg="AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)")
