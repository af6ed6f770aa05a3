"""FractalNet: count oracles, the fractal wiring against a hand-built composition, global and local
drop-path semantics, network vs block scope of the global column, gradients."""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from archs.fractalnet import FractalBlock, FractalConv

KEY = jax.random.key(0)


pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.mark.parametrize("num_classes,want", [(10, 33_724_618), (100, 33_770_788)])  # imgclsmob cifar10/100
def test_param_count_matches_oracle(num_classes, want):
  model = archs.create_model("fractalnet20", num_classes=num_classes)
  x = jnp.zeros((1, 32, 32, 3))
  variables, out = jax.eval_shape(lambda: (lambda v: (v, model.apply(v, x, return_features=True)))(
      model.init(KEY, x)))
  got = sum(math.prod(p.shape) for p in jax.tree.leaves(variables["params"]))
  assert got == want, f"expected {want:,} params, got {got:,}"
  block = variables["params"]["block1"]
  assert set(block) == {"col1_conv1", "col2_conv1", "col2_conv2", *(f"col3_conv{k}" for k in range(1, 5))}
  assert [s.shape[1:] for s in out["stages"]] == [(16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512), (1, 1, 512)]
  assert out["logits"].shape == (1, num_classes)


@pytest.fixture(scope="module")
def block_setup():
  block = FractalBlock(features=4, num_columns=3, drop_rate=0.0, local_drop_rate=0.0)
  x = jax.random.normal(jax.random.key(1), (3, 6, 6, 2))
  variables = block.init(KEY, x)

  def conv(name, inp):  # one conv unit in train mode (batch statistics), with the block's parameters
    sub = {c: variables[c][name] for c in variables}
    return FractalConv(4).apply(sub, inp, train=True, mutable=["batch_stats"])[0]

  def run(rng, drop, global_column=None, use_global=False):
    fn = lambda: block.clone(local_drop_rate=drop).apply(
        variables, x, train=True, global_column=global_column, use_global=use_global,
        rngs={"dropout": rng}, mutable=["batch_stats"])[0]
    return np.asarray(jax.jit(fn)())
  return conv, run, x


def test_fractal_wiring_and_mean_join(block_setup):
  conv, run, x = block_setup
  # f_3(z) = join(f_2(f_2(z)), conv(z)), f_2(z) = join(conv(conv(z)), conv(z)).
  a = conv("col3_conv1", x)
  j2 = (conv("col2_conv1", x) + conv("col3_conv2", a)) / 2
  b = conv("col3_conv3", j2)
  want = (conv("col1_conv1", x) + conv("col2_conv2", j2) + conv("col3_conv4", b)) / 3
  np.testing.assert_allclose(run(KEY, drop=0.0), want, rtol=1e-5, atol=1e-5,
                             err_msg="expected joins to average every input when nothing is dropped")


@pytest.mark.parametrize("column", [0, 1, 2])
def test_global_drop_path_keeps_one_column(block_setup, column):
  conv, run, x = block_setup
  names = {0: ["col1_conv1"], 1: ["col2_conv1", "col2_conv2"], 2: [f"col3_conv{k}" for k in range(1, 5)]}[column]
  want = x
  for name in names:
    want = conv(name, want)
  got = run(KEY, drop=0.15, global_column=column, use_global=True)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"expected column {column} alone")


def test_local_drop_path_revives_one_input_when_all_are_dropped(block_setup):
  _, run, _ = block_setup
  for seed in range(3):
    got = run(jax.random.key(seed), drop=1.0)
    assert np.any(got != 0), "expected a surviving path (one input revived per join), got all zeros"


def column_gradients(scope, global_ratio, seeds, num_columns=2, local_drop_rate=0.15):
  model = archs.create_model("fractalnet20", num_classes=3, widths=(4,) * 5, drop_rates=(0.0,) * 5,
                             num_columns=num_columns, local_drop_rate=local_drop_rate,
                             global_drop_ratio=global_ratio, global_scope=scope)
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables = jax.jit(model.init)(KEY, x)

  @jax.jit
  def grads(rng):
    def loss(params):
      logits, _ = model.apply({**variables, "params": params}, x, train=True, rngs={"dropout": rng},
                              mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 2])).mean(), logits
    return jax.grad(loss, has_aux=True)(variables["params"])
  out = [grads(jax.random.key(s)) for s in seeds]
  eval1, eval2 = (jax.jit(model.apply)(variables, x) for _ in range(2))
  return out, eval1, eval2


def live_columns(grads):
  """Per block, the columns whose parameters received a nonzero gradient."""
  flat = flax.traverse_util.flatten_dict(grads)
  live = {}
  for path, g in flat.items():
    if path[0].startswith("block") and np.any(np.asarray(g)):
      live.setdefault(path[0], set()).add(path[1].split("_")[0])
  return [live.get(f"block{i}", set()) for i in range(1, 6)]


def test_global_column_is_shared_by_the_whole_network_by_default():
  out, _, _ = column_gradients("network", 1.0, range(4))
  for grads, _ in out:
    live = live_columns(grads)
    assert all(len(cols) == 1 for cols in live) and len(set.union(*live)) == 1, \
        f"expected one column, the same in every block, to train; got {live}"


def test_global_column_per_block_option():
  out, _, _ = column_gradients("block", 1.0, range(3))
  lives = [live_columns(grads) for grads, _ in out]
  assert all(len(cols) == 1 for live in lives for cols in live), f"expected one column per block; got {lives}"
  assert any(len(set.union(*live)) > 1 for live in lives), f"expected blocks to draw different columns; got {lives}"


def test_local_only_training_reaches_every_parameter_and_eval_is_deterministic():
  out, eval1, eval2 = column_gradients("network", 0.0, [0], num_columns=3, local_drop_rate=0.0)
  grads, _ = out[0]
  dead = [k for k, g in flax.traverse_util.flatten_dict(grads, sep="/").items() if not np.any(np.asarray(g))]
  assert not dead, f"expected a nonzero gradient for every parameter; none for {dead}"
  np.testing.assert_array_equal(eval1, eval2, err_msg="expected eval to average all paths deterministically")
  assert eval1.shape == (2, 3)
