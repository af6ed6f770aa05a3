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
