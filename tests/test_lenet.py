"""LeNet-5: the parameter count of the paper's layout with dense C3, and its shapes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("kwargs", [{}, {"activation": "relu", "pool": "max"}])
def test_lenet5_parameter_count(kwargs):
  model = archs.create_model("lenet5", **kwargs)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)))
  # C1 6*(25+1) + C3 16*(6*25+1) + C5 120*(400+1) + F6 84*(120+1) + out 10*(84+1).
  assert _count(shapes["params"]) == 61_706, "LeNet-5, 1x32x32 input, 10 classes: expected 61,706 parameters"


def test_lenet5_features_and_input_channels():
  model = archs.create_model("lenet5", num_classes=7)
  x = jnp.ones((2, 32, 32, 3))
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x)
  out = jax.jit(lambda v, x: model.apply(v, x, return_features=True))(variables, x)
  assert out["logits"].shape == (2, 7)
  assert out["pre_logits"].shape == (2, 84)
  assert [s.shape for s in out["stages"]] == [(2, 28, 28, 6), (2, 10, 10, 16), (2, 1, 1, 120)]
  np.testing.assert_allclose(out["logits"], jax.jit(model.apply)(variables, x), rtol=1e-5, atol=1e-6,
                             err_msg="logits differ with features")


def test_lenet5_scaled_tanh_is_the_papers():
  from archs.lenet import scaled_tanh
  np.testing.assert_allclose(scaled_tanh(jnp.array([1.0, -1.0])), [1.0, -1.0], atol=1e-4,
                             err_msg="1.7159 tanh(2/3) should be ~1 (LeCun et al. 1998, Appendix A)")


def test_lenet5_rejects_other_input_sizes():
  model = archs.create_model("lenet5")
  with pytest.raises(ValueError, match="32x32"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))


PAPER = {"pool": "trainable", "c3_table": "paper", "output": "rbf"}


def test_lenet5_paper_form_has_the_papers_layer_counts():
  """Sec. II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164 trainable parameters; 84 x 10 RBF centres."""
  shapes = jax.eval_shape(archs.create_model("lenet5", **PAPER).init, jax.random.PRNGKey(0),
                          jnp.zeros((1, 32, 32, 1)))["params"]
  counts = {name: _count(tree) for name, tree in shapes.items()}
  assert counts == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164, "output": 840}, counts


def test_c3_table_reads_only_the_listed_s2_maps():
  """The gradient of C3 map j with respect to S2 map i is non-zero exactly where Table I has an X (60 of 96)."""
  from archs.lenet import C3_PAPER_TABLE, PartialConv
  conv = PartialConv(C3_PAPER_TABLE)
  s2 = jax.random.normal(jax.random.PRNGKey(1), (1, 14, 14, 6))
  variables = conv.init(jax.random.PRNGKey(0), s2)
  grads = [jax.grad(lambda x: conv.apply(variables, x)[..., j].sum())(s2) for j in range(16)]
  reads = np.array([[bool(np.any(np.asarray(g)[..., i] != 0)) for i in range(6)] for g in grads])
  expected = np.zeros((16, 6), bool)
  for j, inputs in enumerate(C3_PAPER_TABLE):
    expected[j, list(inputs)] = True
  np.testing.assert_array_equal(reads, expected)
  assert reads.sum() == 60 and reads[:6].sum(1).tolist() == [3] * 6 and reads[15].all()


def test_rbf_output_is_minus_the_squared_distance_to_each_centre():
  model = archs.create_model("lenet5", num_classes=4, **PAPER)
  x = jax.random.normal(jax.random.PRNGKey(2), (3, 32, 32, 1))
  variables = model.init(jax.random.PRNGKey(0), x)
  out = model.apply(variables, x, return_features=True)
  centres = np.asarray(variables["params"]["output"]["centres"])
  assert set(np.unique(centres)) == {-1.0, 1.0}, "centres start as +-1 (the paper's bitmaps)"
  f6 = np.asarray(out["pre_logits"], np.float64)
  expected = -((f6[:, None, :] - centres[None]) ** 2).sum(-1)
  np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-4)


def test_subsampling_is_a_scaled_sum_plus_bias_then_squashed():
  from archs.lenet import Subsampling, scaled_tanh
  layer = Subsampling(scaled_tanh)
  x = jax.random.normal(jax.random.PRNGKey(3), (1, 4, 4, 2))
  params = {"params": {"coefficient": jnp.array([0.5, -2.0]), "bias": jnp.array([0.1, 0.3])}}
  blocks = np.asarray(x).reshape(1, 2, 2, 2, 2, 2).sum(axis=(2, 4))
  np.testing.assert_allclose(layer.apply(params, x), scaled_tanh(blocks * [0.5, -2.0] + [0.1, 0.3]), rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize("field,value", [("pool", "sum"), ("c3_table", "sparse"), ("output", "gaussian")])
def test_lenet5_unknown_option_names_the_accepted_ones(field, value):
  model = archs.create_model("lenet5", **{field: value})
  with pytest.raises(ValueError, match=f"unknown {field} '{value}'; accepted"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)))
