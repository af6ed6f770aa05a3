"""Vision Transformer: counts against timm, the block against a numpy computation, position-embedding
interpolation, attention maps, and a run of the training program.

Logit parity with timm's VisionTransformer through the converter: tests/test_weights_transformers.py.
"""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

import archs
from helpers import n_params
from archs.vit import EncoderBlock, VisionTransformer, resize_position_grid
from tests.mac_count import macs
from train import defaults, trainer

ORACLES = {  # timm 1.x, sum of parameter numel, 1000 classes at 224
    "vit_tiny_patch16_224": 5_717_416, "vit_small_patch16_224": 22_050_664, "vit_base_patch16_224": 86_567_656,
    "vit_large_patch16_224": 304_326_632, "vit_base_patch32_224": 88_224_232,
}
SMALL = dict(patch_size=8, embed_dim=24, depth=2, num_heads=3, img_size=32, num_classes=5)

pytestmark = pytest.mark.usefixtures("fast_compile")



@pytest.mark.parametrize("name", sorted(ORACLES))
def test_param_count_matches_timm(name):
  model = archs.create_model(name)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert n_params(shapes["params"]) == ORACLES[name], f"{name}: expected {ORACLES[name]:,} params (timm)"


@pytest.mark.parametrize("dim", [12, 192])
def test_block_param_count(dim):
  shapes = jax.eval_shape(lambda: EncoderBlock(num_heads=3).init(jax.random.key(0), jnp.zeros((1, 5, dim))))
  assert n_params(shapes["params"]) == 12 * dim**2 + 13 * dim, f"block params 12d^2 + 13d for d={dim}"


def layer_norm(x, p):
  mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def numpy_block(x, p, heads):
  """Pre-LN block in numpy: x + W_o softmax(q k^T / sqrt(d_h)) v of LN(x); x + fc2(GELU(fc1(LN(x))))."""
  a = p["attn"]
  y = layer_norm(x, p["norm1"])
  q, k, v = (np.einsum("bld,dhk->blhk", y, a[n]["kernel"]) + a[n]["bias"] for n in ("query", "key", "value"))
  logits = np.einsum("bqhk,bphk->bhqp", q, k) / math.sqrt(q.shape[-1])
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w /= w.sum(-1, keepdims=True)
  o = np.einsum("bhqp,bphk->bqhk", w, v)
  x = x + np.einsum("bqhk,hkd->bqd", o, a["out"]["kernel"]) + a["out"]["bias"]
  y = layer_norm(x, p["norm2"]) @ p["mlp"]["wi"]["kernel"] + p["mlp"]["wi"]["bias"]
  y = y * 0.5 * (1.0 + erf(y / math.sqrt(2.0)))
  return x + y @ p["mlp"]["wo"]["kernel"] + p["mlp"]["wo"]["bias"]


def test_block_matches_numpy_reference():
  x = np.random.default_rng(0).normal(size=(2, 5, 12)).astype(np.float32)
  block = EncoderBlock(num_heads=3)
  params = block.init(jax.random.key(1), x)["params"]
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, l.shape) for k, l in zip(keys, leaves)])
  got = np.asarray(block.apply({"params": params}, x))
  want = numpy_block(x.astype(np.float64), jax.tree.map(lambda a: np.asarray(a, np.float64), params), 3)
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg="ViT block differs from the numpy reference")


def test_position_grid_resize():
  grid = jax.random.normal(jax.random.key(0), (1, 4, 4, 6))
  assert resize_position_grid(grid, (4, 4)) is grid, "the training size is used as learned, not resampled"
  const = jnp.full((1, 4, 4, 6), 0.7)
  np.testing.assert_allclose(resize_position_grid(const, (6, 3)), 0.7, rtol=1e-6,
                             err_msg="interpolating a constant grid keeps it constant")
  assert resize_position_grid(grid, (6, 3)).shape == (1, 6, 3, 6)


def test_other_image_sizes_use_the_same_parameters():
  model = VisionTransformer(**SMALL)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  assert variables["params"]["pos_embed"].shape == (1, 1 + 16, 24), "1 class + (32/8)^2 patch positions"
  for size in (32, 48, (40, 64)):
    h, w = (size, size) if isinstance(size, int) else size
    out = model.apply(variables, jnp.ones((2, h, w, 3)), return_features=True)
    assert out["logits"].shape == (2, 5)
    assert out["stages"][0].shape == (2, h // 8, w // 8, 24), f"token grid of a {h}x{w} image"
  with pytest.raises(ValueError, match="divisible by patch_size=8"):
    model.apply(variables, jnp.ones((1, 36, 32, 3)))


def test_attention_maps_are_sown_outside_init():
  model = VisionTransformer(**SMALL)
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables = model.init(jax.random.key(0), x)
  assert set(variables) == {"params"}, "init stores no attention maps"
  logits, state = model.apply(variables, x, mutable=["intermediates"])
  np.testing.assert_allclose(logits, model.apply(variables, x), rtol=1e-6)
  maps = [state["intermediates"][f"block{i}"]["attn"]["attention_weights"][0] for i in range(2)]
  for m in maps:
    assert m.shape == (2, 3, 17, 17), "(batch, heads, class + 16 patches, class + 16 patches)"
    np.testing.assert_allclose(m.sum(-1), 1.0, rtol=1e-5, err_msg="each query's weights sum to 1")


def test_class_token_and_average_pooling():
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  token, avg = VisionTransformer(**SMALL), VisionTransformer(**SMALL, global_pool="avg")
  variables = token.init(jax.random.key(0), x)
  t = token.apply(variables, x, return_features=True)
  a = avg.apply(variables, x, return_features=True)
  np.testing.assert_allclose(a["pre_logits"], t["stages"][0].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
  assert not np.allclose(t["pre_logits"], a["pre_logits"]), "the class token is not the patch mean"
  with pytest.raises(ValueError, match="global_pool 'max'"):
    VisionTransformer(**SMALL, global_pool="max").init(jax.random.key(0), x)


@pytest.mark.slow
def test_trains_through_the_training_program(tmp_path):
  c = defaults.load_config("vit")
  c.model_kwargs = {"patch_size": 8, "img_size": 32, "depth": 2}
  c.num_epochs, c.num_devices, c.checkpoint_every_steps, c.log_every_steps = 1, 1, 1000, 5
  summary = trainer.train_and_evaluate(c, str(tmp_path))
  events = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train_losses = [e["loss"] for e in events if e["kind"] == "train"]
  assert train_losses[-1] < train_losses[0], f"one epoch on digits should lower the training loss: {train_losses}"
  assert summary["eval_loss"] < math.log(10), f"eval loss {summary['eval_loss']} not below chance (ln 10)"


def test_vit_base_cost():
  got = macs("vit_base_patch16_224") / 1e9
  assert got == pytest.approx(17.58, rel=0.01), f"timm (fvcore) counts 17.58 GMACs for ViT-B/16 at 224, got {got:.3f}"
