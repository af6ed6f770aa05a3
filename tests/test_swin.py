"""Swin Transformer: counts against timm/torchvision, windows and their masks against the paper's Fig. 4,
locality of (shifted) window attention, padding, attention maps, and a run of the training program.

Logit parity with timm's and torchvision's SwinTransformer through the converter: tests/test_weights_transformers.py.
"""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from helpers import n_params
from archs.layers.windows import relative_position_index, shifted_window_mask, window_merge, window_partition
from archs.swin import SwinBlock, SwinTransformer
from tests.mac_count import macs
from train import defaults, trainer

ORACLES = {  # timm 1.x and torchvision (swin_t / swin_s / swin_b), sum of parameter numel, 1000 classes
    "swin_tiny_patch4_window7_224": 28_288_354, "swin_small_patch4_window7_224": 49_606_258,
    "swin_base_patch4_window7_224": 87_768_224,
}
SMALL = dict(depths=(2, 2), num_heads=(2, 4), embed_dim=16, window_size=4, num_classes=5)

pytestmark = pytest.mark.usefixtures("fast_compile")



@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_reference(name):
  model = archs.create_model(name)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert n_params(shapes["params"]) == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params"


def test_parameters_do_not_depend_on_the_input_size():
  model = archs.create_model("swin_tiny_patch4_window7_224")
  counts = {s: n_params(jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, s, s, 3))))["params"])
            for s in (32, 100, 224)}
  assert set(counts.values()) == {ORACLES["swin_tiny_patch4_window7_224"]}, counts


def test_window_partition_round_trip():
  x = jnp.arange(2 * 8 * 12 * 3.0).reshape(2, 8, 12, 3)
  w = window_partition(x, (4, 6))
  assert w.shape == (2 * 2 * 2, 24, 3)
  np.testing.assert_array_equal(w[1].reshape(4, 6, 3), x[0, :4, 6:], err_msg="window 1: top-right of image 0")
  np.testing.assert_array_equal(window_merge(w, (4, 6), (8, 12)), x)


def test_relative_position_index():
  m = 4
  index = relative_position_index((m, m), (m, m))
  assert len(np.unique(index)) == (2 * m - 1) ** 2, "every relative offset has its own row of the table"
  assert (np.diag(index) == (m - 1) * (2 * m - 1) + m - 1).all(), "offset (0, 0) is the table's centre"
  coords = [(i, j) for i in range(m) for j in range(m)]
  for a, (ya, xa) in enumerate(coords):  # one row per offset: equal offsets share it
    for b, (yb, xb) in enumerate(coords):
      assert index[a, b] == (ya - yb + m - 1) * (2 * m - 1) + xa - xb + m - 1
  small = relative_position_index((2, 3), (m, m))
  assert small.shape == (6, 6) and set(np.unique(small)) <= set(np.unique(index)), "a smaller window reuses rows"


def test_shifted_window_mask_matches_the_papers_regions():
  assert shifted_window_mask((8, 8), (8, 8), (4, 4), (0, 0)) is None, "W-MSA without padding needs no mask"
  mask = shifted_window_mask((8, 8), (8, 8), (4, 4), (2, 2))
  # After the shift the top-left window is one piece; the top-right and bottom-left hold two pieces of 8 tokens,
  # the bottom-right four of 4 (Fig. 4): each token attends to its own piece only.
  assert [int(m.sum()) for m in mask] == [16 * 16, 2 * 8 * 8, 2 * 8 * 8, 4 * 4 * 4]
  assert all(m[i, i] for m in mask for i in range(16)), "a token always attends to itself"


def test_padding_is_masked_out():
  mask = shifted_window_mask((8, 8), (5, 6), (4, 4), (0, 0))
  windows = window_partition(np.pad(np.ones((1, 5, 6, 1), bool), ((0, 0), (0, 3), (0, 2), (0, 0))), (4, 4))[..., 0]
  assert (mask == windows[:, None, :]).all(), "a key is attended to exactly when it is not padding"


def block_and_variables(shifted, size=8, seed=0):
  block = SwinBlock(num_heads=2, window_size=4, shifted=shifted)
  x = jax.random.normal(jax.random.key(seed), (1, size, size, 8))
  variables = block.init(jax.random.key(seed + 1), x)
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(seed + 2), len(leaves))
  variables = jax.tree.unflatten(tree, [l + 0.3 * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])
  return block, variables, x


@pytest.mark.parametrize("shifted,reached", [(False, (slice(0, 4), slice(0, 4))), (True, (slice(0, 2), slice(0, 2)))])
def test_attention_stays_inside_the_window(shifted, reached):
  """A change at (0, 0) reaches its 4x4 window (W-MSA); after the shift by 2, (0, 0) lies in the wrapped
  bottom-right window, where the mask confines it to its own 2x2 piece (SW-MSA)."""
  block, variables, x = block_and_variables(shifted)
  delta = np.abs(np.asarray(block.apply(variables, x.at[0, 0, 0, 0].add(1.0)) - block.apply(variables, x)))[0].max(-1)
  expected = np.zeros((8, 8), bool)
  expected[reached] = True
  np.testing.assert_array_equal(delta > 1e-6, expected, err_msg=f"tokens changed by a change at (0, 0), shifted={shifted}")


def test_padded_windows_equal_the_unpadded_maps():
  """5x5 map, window 4: the top-left window is a full 4x4 map; the bottom-right one holds token (4, 4) alone."""
  block, variables, x = block_and_variables(False, size=5)
  out = block.apply(variables, x)
  np.testing.assert_allclose(out[:, :4, :4], block.apply(variables, x[:, :4, :4]), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[:, 4:, 4:], block.apply(variables, x[:, 4:, 4:]), rtol=1e-5, atol=1e-6)


def test_features_and_attention_maps():
  model = SwinTransformer(**SMALL)
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables = model.init(jax.random.key(0), x)
  assert set(variables) == {"params"}, "init stores no attention maps"
  out, state = model.apply(variables, x, return_features=True, mutable=["intermediates"])
  assert [s.shape for s in out["stages"]] == [(2, 8, 8, 16), (2, 4, 4, 32)], "strides 4 and 8, width doubling"
  assert out["logits"].shape == (2, 5) and out["pre_logits"].shape == (2, 32)
  maps = state["intermediates"]["stage0_block1"]["attn"]["attn"]["attention_weights"][0]
  assert maps.shape == (2 * 4, 2, 16, 16), "(batch x 4 windows, heads, 16 tokens, 16 tokens)"
  np.testing.assert_allclose(maps.sum(-1), 1.0, rtol=1e-5)
  bottom_right = np.asarray(maps[3, 0])
  assert (bottom_right[0, [2, 3]] == 0).all(), "the shifted window's mask keeps other pieces' weights at 0"


def test_mismatched_depths_and_heads_rejected():
  with pytest.raises(ValueError, match="one head count per stage"):
    SwinTransformer(depths=(2, 2), num_heads=(2,)).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


@pytest.mark.slow
def test_trains_through_the_training_program(tmp_path):
  c = defaults.load_config("swin")
  c.model_kwargs = {**c.model_kwargs, "depths": (2, 2), "num_heads": (2, 4), "embed_dim": 32}
  c.num_epochs, c.num_devices, c.checkpoint_every_steps, c.log_every_steps = 1, 1, 1000, 5
  summary = trainer.train_and_evaluate(c, str(tmp_path))
  events = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train_losses = [e["loss"] for e in events if e["kind"] == "train"]
  assert train_losses[-1] < train_losses[0], f"one epoch on digits should lower the training loss: {train_losses}"
  assert summary["eval_loss"] < math.log(10), f"eval loss {summary['eval_loss']} not below chance (ln 10)"


def test_swin_tiny_cost():
  got = macs("swin_tiny_patch4_window7_224") / 1e9
  assert got == pytest.approx(4.5, rel=0.01), f"the paper gives Swin-T 4.5 GFLOPs (MACs) at 224, got {got:.3f}"
