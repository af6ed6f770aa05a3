"""The classic CNNs' other configurations: VGG A-LRN and C (Simonyan & Zisserman 2014, Table 1), ZFNet with the
paper's 512-1024-512 widths, and GoogLeNet's naive Inception module (Szegedy et al. 2014, Fig. 2a)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.googlenet import INCEPTION_WIDTHS, Inception
from archs.layers.lrn import local_response_norm
from tests.mac_count import macs

pytestmark = pytest.mark.usefixtures("fast_compile")


def count_params(model, size=32):
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))


def test_vgg_a_lrn_and_c_counts():
  # [computed] from Table 1: A-LRN adds a parameter-free LRN to A (torchvision vgg11: 132,863,336); C adds to B
  # (vgg13: 133,047,848) a 1x1 conv of 256, 512 and 512 maps in stages 3, 4, 5 (the paper rounds both to 133M/134M).
  assert count_params(archs.create_model("vgg_a_lrn")) == 132_863_336
  one_by_one = (256 * 256 + 256) + 2 * (512 * 512 + 512)
  assert count_params(archs.create_model("vgg_c")) == 133_047_848 + one_by_one == 133_638_952


def test_vgg_c_convs_are_1x1_and_a_lrn_normalises_conv1_1():
  x = jax.random.normal(jax.random.key(0), (1, 32, 32, 3))
  c = archs.create_model("vgg_c", num_classes=5, hidden=8)
  kernels = {k: v["kernel"].shape[:2] for k, v in jax.eval_shape(lambda: c.init(jax.random.key(0), x))["params"].items()
             if k.startswith("conv")}
  assert [k for k, s in kernels.items() if s == (1, 1)] == ["conv3_3", "conv4_3", "conv5_3"], kernels
  lrn, plain = (archs.create_model(n, num_classes=5, hidden=8) for n in ("vgg_a_lrn", "vgg11"))
  variables = lrn.init(jax.random.key(1), x)
  with_lrn = lrn.apply(variables, x, return_features=True)["named"]["conv1_1"]
  without = plain.apply(variables, x, return_features=True)["named"]["conv1_1"]
  np.testing.assert_allclose(with_lrn, local_response_norm(without), rtol=1e-5,
                             err_msg="A-LRN: LRN (Krizhevsky's parameters) after conv1_1's ReLU")


def test_zfnet_paper_widths_and_count():
  widths = (96, 256, 512, 1024, 512)
  shapes = jax.eval_shape(lambda: archs.create_model("zfnet_paper").init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert tuple(shapes["params"][f"conv{i}"]["kernel"].shape[-1] for i in range(1, 6)) == widths
  # [computed]: zfnet (imgclsmob, 62,357,608) with conv3-5 widened and FC6 reading 6x6x512 instead of 6x6x256.
  delta = (512 - 384) * 256 * 9 + 128 + (1024 * 512 * 9 + 1024) - (384 * 384 * 9 + 384) \
      + (512 * 1024 * 9 + 512) - (256 * 384 * 9 + 256) + (6 * 6 * 512 - 6 * 6 * 256) * 4096
  total = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))
  assert total == 62_357_608 + delta == 107_627_624


def test_naive_inception_widens_by_its_input():
  c1, _, c3, _, c5, _ = INCEPTION_WIDTHS["3a"]
  x = jnp.zeros((1, 28, 28, 192))
  for paper, k5 in ((False, 3), (True, 5)):
    module = Inception(INCEPTION_WIDTHS["3a"], paper=paper, naive=True)
    variables = jax.eval_shape(lambda: module.init(jax.random.key(0), x))
    out = jax.eval_shape(lambda v: module.apply(v, x, mutable=["batch_stats"])[0], variables)
    assert out.shape[-1] == c1 + c3 + c5 + 192, "1x1 + 3x3 + 5x5 maps, and the pooled input passed through"
    convs = 192 * (c1 + 9 * c3 + k5 * k5 * c5)
    extra = (c1 + c3 + c5) * (1 if paper else 2)  # conv biases (paper) or BatchNorm scale and bias
    assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables["params"])) == convs + extra


def test_naive_inception_costs_more():
  naive, bottleneck = (macs("googlenet", aux_logits=False, naive_inception=n) for n in (True, False))
  # torchvision documents 1.50 GFLOPS (MACs) for GoogLeNet; without the 1x1 reductions the widths compound.
  assert bottleneck / 1e9 == pytest.approx(1.50, rel=0.02), f"googlenet: {bottleneck / 1e9:.3f} GMACs"
  assert naive > 5 * bottleneck, f"naive {naive / 1e9:.2f} vs bottlenecked {bottleneck / 1e9:.2f} GMACs"
