"""LRN, torch-style pooling and ConvBN checked against independent numpy computations."""
import math

import jax.numpy as jnp
import numpy as np
import pytest

from archs.layers.lrn import local_response_norm
from archs.layers.torch_pool import adaptive_avg_pool, max_pool


def lrn_reference(a, n, k, alpha, beta):
  """The paper's sum, written as loops: b_c = a_c / (k + alpha sum_{max(0,c-n/2)}^{min(N-1,c+n/2)} a^2)^beta."""
  out = np.empty_like(a)
  channels = a.shape[-1]
  for c in range(channels):
    lo, hi = max(0, c - n // 2), min(channels - 1, c + n // 2)
    out[..., c] = a[..., c] / (k + alpha * np.sum(a[..., lo:hi + 1] ** 2, axis=-1)) ** beta
  return out


@pytest.mark.parametrize("n,k,alpha,beta", [(5, 2.0, 1e-4, 0.75), (3, 1.0, 0.5, 0.6), (1, 2.0, 0.1, 1.0)])
def test_lrn_equals_paper_formula(n, k, alpha, beta):
  a = np.random.default_rng(0).normal(scale=3.0, size=(2, 3, 4, 11)).astype(np.float32)
  got = np.asarray(local_response_norm(jnp.asarray(a), size=n, k=k, alpha=alpha, beta=beta))
  np.testing.assert_allclose(got, lrn_reference(a, n, k, alpha, beta), rtol=1e-5, atol=1e-6,
                             err_msg="expected the paper's LRN with alpha not divided by n")


def test_lrn_torch_option_divides_alpha_by_size():
  a = np.random.default_rng(1).normal(scale=5.0, size=(1, 2, 2, 8)).astype(np.float32)
  got = np.asarray(local_response_norm(jnp.asarray(a), size=5, k=2.0, alpha=0.5, alpha_over_size=True))
  np.testing.assert_allclose(got, lrn_reference(a, 5, 2.0, 0.5 / 5, 0.75), rtol=1e-5, atol=1e-6,
                             err_msg="expected torch's LocalResponseNorm (alpha / n)")
  paper = np.asarray(local_response_norm(jnp.asarray(a), size=5, k=2.0, alpha=0.5))
  assert not np.allclose(got, paper), "expected the torch option to differ from the paper's default"


def torch_max_pool_reference(x, window, stride, padding, ceil_mode):
  """torch.nn.MaxPool2d from its documented output-size formula, windows clipped to the input."""
  def out_size(size):
    out = (math.ceil if ceil_mode else math.floor)((size + 2 * padding - window) / stride) + 1
    return out - 1 if ceil_mode and (out - 1) * stride >= size + padding else out
  h, w = x.shape[1:3]
  oh, ow = out_size(h), out_size(w)
  out = np.empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)
  for i in range(oh):
    for j in range(ow):
      r0, c0 = i * stride - padding, j * stride - padding
      patch = x[:, max(r0, 0):min(r0 + window, h), max(c0, 0):min(c0 + window, w)]
      out[:, i, j] = patch.max(axis=(1, 2))
  return out


@pytest.mark.parametrize("size,window,stride,padding,ceil_mode", [
    (54, 3, 2, 0, True), (55, 3, 2, 0, False), (13, 3, 2, 0, True), (14, 2, 2, 0, True),
    (7, 3, 1, 1, True), (4, 2, 3, 1, True), (9, 3, 2, 1, False)])
def test_max_pool_matches_torch_semantics(size, window, stride, padding, ceil_mode):
  x = np.random.default_rng(size).normal(size=(2, size, size + 1, 3)).astype(np.float32)
  got = np.asarray(max_pool(jnp.asarray(x), window, stride, padding, ceil_mode))
  want = torch_max_pool_reference(x, window, stride, padding, ceil_mode)
  assert got.shape == want.shape, f"expected output shape {want.shape}, got {got.shape}"
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size,out", [(14, 4), (1, 7), (7, 7), (5, 3), (10, 1)])
def test_adaptive_avg_pool_matches_torch_bins(size, out):
  x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype(np.float32)
  want = np.empty((2, out, out, 3), np.float32)
  for i in range(out):
    for j in range(out):
      r = slice(i * size // out, math.ceil((i + 1) * size / out))
      c = slice(j * size // out, math.ceil((j + 1) * size / out))
      want[:, i, j] = x[:, r, c].mean(axis=(1, 2))
  np.testing.assert_allclose(np.asarray(adaptive_avg_pool(jnp.asarray(x), out)), want, rtol=1e-5, atol=1e-6)
