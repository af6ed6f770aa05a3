"""Oracles for archs.analysis.features: Grad-CAM of conv -> global average pool -> dense is the class
activation map (Zhou et al. 2016) in closed form; the Fourier measure on maps of known frequency content."""
import flax.linen as nn
import jax
import numpy as np
import pytest

from archs.analysis import features


class ConvGapDense(nn.Module):
  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = nn.Conv(2, (1, 1), name="z_first")(x)  # call order differs from alphabetical order
    a = nn.Conv(5, (3, 3), name="conv")(x)
    return nn.Dense(4, name="head")(a.mean(axis=(1, 2)))


@pytest.fixture(scope="module")
def net():
  model = ConvGapDense()
  x = jax.random.normal(jax.random.key(0), (3, 6, 6, 2))
  return model, model.init(jax.random.key(1), x), x


def test_layer_shapes_and_feature_map(net):
  model, variables, x = net
  assert list(features.layer_shapes(model, variables, x).items()) == [("z_first", (3, 6, 6, 2)),
                                                                      ("conv", (3, 6, 6, 5))]
  first = nn.Conv(2, (1, 1)).apply({"params": variables["params"]["z_first"]}, x)
  conv = nn.Conv(5, (3, 3)).apply({"params": variables["params"]["conv"]}, first)
  maps = features.feature_maps(model, variables, x, ["conv", "z_first"])
  np.testing.assert_allclose(maps["conv"], conv, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(maps["z_first"], first, rtol=1e-6)
  with pytest.raises(ValueError, match="layer 'nope' is not a module of ConvGapDense; accepted: z_first, conv"):
    features.feature_map(model, variables, x, "nope")


def test_grad_cam_equals_the_class_activation_map(net):
  model, variables, x = net
  classes = np.array([0, 2, 3])
  cams, got_classes = features.grad_cam(model, variables, x, "conv", classes=classes)
  a = np.asarray(features.feature_map(model, variables, x, "conv"))
  w = np.asarray(variables["params"]["head"]["kernel"])               # (channels, classes)
  cam = np.maximum(np.einsum("bhwc,cb->bhw", a, w[:, classes]), 0)    # d logit / d A_c = w_c / (h w)
  want = cam / cam.max(axis=(1, 2), keepdims=True)
  np.testing.assert_allclose(cams, want, rtol=1e-4, atol=1e-6)
  np.testing.assert_array_equal(got_classes, classes)
  _, predicted = features.grad_cam(model, variables, x, "conv")
  np.testing.assert_array_equal(predicted, np.argmax(model.apply(variables, x), -1))


def test_relative_log_amplitude_separates_smooth_from_checkerboard():
  i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
  checker = np.cos(np.pi * (i + j))[None, :, :, None] + 0.01
  smooth = np.exp(-((i - 3.5) ** 2 + (j - 3.5) ** 2) / 8)[None, :, :, None]
  high, low = features.relative_log_amplitude(checker), features.relative_log_amplitude(smooth)
  assert high.shape == low.shape == (5,) and high[0] == low[0] == 0
  assert high[-1] > 3 and low[-1] < -3
