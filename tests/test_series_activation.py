"""SeriesActivation equals the paper's sum formula (eq. 6), computed with explicit loops."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs.layers.series_activation import SeriesActivation, fold_batch_norm


def _series_formula(x, a, b):
  """sum_{i,j=-n..n} a[i+n, j+n, c] ReLU(x[h+i, w+j, c]) + b[c], zero outside the image. x: (H, W, C)."""
  size = a.shape[0]
  n = size // 2
  height, width, channels = x.shape
  relu = np.maximum(x, 0.0)
  out = np.zeros_like(x, dtype=np.float64)
  for h in range(height):
    for w in range(width):
      for c in range(channels):
        total = b[c]
        for i in range(-n, n + 1):
          for j in range(-n, n + 1):
            if 0 <= h + i < height and 0 <= w + j < width:
              total += a[i + n, j + n, c] * relu[h + i, w + j, c]
        out[h, w, c] = total
  return out


def _random_variables(act_num, channels, key):
  keys = jax.random.split(key, 5)
  variables = SeriesActivation(act_num).init(keys[0], jnp.zeros((1, 5, 5, channels)))
  size = 2 * act_num + 1
  params = {"conv": {"kernel": jax.random.normal(keys[1], (size, size, 1, channels))},
            "bn": {"scale": jax.random.uniform(keys[2], (channels,), minval=0.5, maxval=1.5),
                   "bias": jax.random.normal(keys[3], (channels,))}}
  mean, var = jax.random.normal(keys[4], (2, channels))
  assert jax.tree.structure(params) == jax.tree.structure(variables["params"])
  return {"params": params, "batch_stats": {"bn": {"mean": mean, "var": jnp.abs(var) + 0.5}}}


@pytest.mark.parametrize("implementation", ["conv", "shifts"])
@pytest.mark.parametrize("act_num", [0, 1, 3])
def test_deploy_form_is_the_series_formula(act_num, implementation):
  channels = 3
  x = np.asarray(jax.random.normal(jax.random.key(0), (2, 6, 5, channels)))
  size = 2 * act_num + 1
  a = np.asarray(jax.random.normal(jax.random.key(1), (size, size, 1, channels)))
  b = np.asarray(jax.random.normal(jax.random.key(2), (channels,)))
  y = SeriesActivation(act_num, deploy=True, implementation=implementation).apply(
      {"params": {"conv": {"kernel": a, "bias": b}}}, x)
  for n in range(x.shape[0]):
    expected = _series_formula(x[n], a[:, :, 0], b)
    np.testing.assert_allclose(y[n], expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"deploy SeriesActivation(act_num={act_num}, {implementation}) != eq. 6")


@pytest.mark.parametrize("act_num", [0, 3])
def test_train_form_in_eval_is_the_formula_with_folded_batch_norm(act_num):
  """BN(conv(ReLU x)) with a = W gamma/sigma, b = beta - mu gamma/sigma; and fold_batch_norm gives those."""
  channels = 4
  variables = _random_variables(act_num, channels, jax.random.key(3))
  x = np.asarray(jax.random.normal(jax.random.key(4), (1, 5, 6, channels)))
  y = SeriesActivation(act_num).apply(variables, x, train=False)
  bn, stats = variables["params"]["bn"], variables["batch_stats"]["bn"]
  t = np.asarray(bn["scale"]) / np.sqrt(np.asarray(stats["var"], np.float64) + 1e-6)
  a = np.asarray(variables["params"]["conv"]["kernel"])[:, :, 0] * t
  b = np.asarray(bn["bias"]) - np.asarray(stats["mean"]) * t
  np.testing.assert_allclose(y[0], _series_formula(x[0], a, b), rtol=1e-5, atol=1e-5,
                             err_msg="train-form SeriesActivation (eval) != formula with BN folded in")
  folded = fold_batch_norm(variables["params"], variables["batch_stats"])
  y_deploy = SeriesActivation(act_num, deploy=True).apply({"params": folded}, x)
  np.testing.assert_allclose(y_deploy, y, rtol=1e-5, atol=1e-5, err_msg="fold_batch_norm changed the output")


@pytest.mark.parametrize("act_num", [0, 3])
def test_parameter_counts(act_num):
  """Train (2n+1)^2 C + 2C (kernel, BN scale/bias); deploy (2n+1)^2 C + C (kernel, bias)."""
  channels = 16
  k = (2 * act_num + 1) ** 2
  for deploy, expected in ((False, k * channels + 2 * channels), (True, k * channels + channels)):
    shapes = jax.eval_shape(SeriesActivation(act_num, deploy=deploy).init, jax.random.key(0),
                            jnp.zeros((1, 8, 8, channels)))
    count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))
    assert count == expected, f"act_num={act_num} deploy={deploy}: expected {expected} params, got {count}"
    assert ("batch_stats" in shapes) == (not deploy), "only the train form keeps BN statistics"


def test_kernel_init_is_untruncated_normal_002():
  """timm trunc_normal_(std=.02) truncates at +-2 absolute, i.e. never: N(0, 0.02^2), tails beyond 2 sigma."""
  kernel = SeriesActivation(3).init(jax.random.key(0), jnp.zeros((1, 8, 8, 512)))["params"]["conv"]["kernel"]
  std = float(jnp.std(kernel))
  assert abs(std - 0.02) < 0.001, f"expected std 0.02, got {std}"
  assert float(jnp.max(jnp.abs(kernel))) > 0.045, "expected untruncated tails beyond 2 sigma (0.04)"


def test_implementations_have_equal_gradients():
  x = jax.random.normal(jax.random.key(0), (2, 5, 4, 3))
  variables = _random_variables(2, 3, jax.random.key(1))

  def grads(implementation):
    def loss(params, x):
      y = SeriesActivation(2, implementation=implementation).apply({**variables, "params": params}, x)
      return jnp.sum(jnp.sin(y))
    return jax.grad(loss, argnums=(0, 1))(variables["params"], x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5,
                                                        err_msg="conv and shifts gradients differ"),
               grads("conv"), grads("shifts"))


def test_bad_arguments_are_rejected():
  with pytest.raises(ValueError, match="act_num"):
    SeriesActivation(-1).init(jax.random.key(0), jnp.zeros((1, 4, 4, 2)))
  with pytest.raises(ValueError, match="implementation"):
    SeriesActivation(1, implementation="fft").init(jax.random.key(0), jnp.zeros((1, 4, 4, 2)))
