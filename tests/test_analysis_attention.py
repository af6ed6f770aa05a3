"""archs.analysis.attention: BAM's maps are what the module multiplies its input by; the attention weights are
softmax(Q K^T / sqrt(d)) per head, of the shapes each model attends over."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import archs
from archs.analysis import attention
from archs.layers.attention import MultiHeadAttention
from archs.layers.bam import BAM

pytestmark = pytest.mark.usefixtures("fast_compile")


class TwoBams(nn.Module):
  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = BAM(reduction=2, name="bam_sum")(nn.Conv(8, (3, 3), name="conv")(x), train)
    x = BAM(reduction=4, combine="product", name="bam_product")(x, train)
    return nn.Dense(3, name="head")(x.mean(axis=(1, 2)))


def test_bam_maps_are_what_the_module_multiplies_its_input_by():
  model = TwoBams()
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  flat, unravel = ravel_pytree(variables)  # away from init (BN at identity, zero biases): one random draw
  variables = unravel(flat + 0.3 * jax.random.normal(jax.random.key(2), flat.shape))

  @jax.jit
  def bam_inputs_and_outputs(variables, x):
    calls = {}

    def record(next_fun, args, kw, context):
      out = next_fun(*args, **kw)
      if isinstance(context.module, BAM):
        calls[context.module.name] = (args[0], out)
      return out
    with nn.intercept_methods(record):
      model.apply(variables, x)
    return calls
  calls = bam_inputs_and_outputs(variables, x)
  maps = attention.bam_maps(model, variables, x)
  assert list(maps) == ["bam_sum", "bam_product"]
  for name, (inputs, out) in calls.items():
    m = maps[name]
    assert m["channel"].shape == (2, 8) and m["spatial"].shape == (2, 6, 6) and m["attention"].shape == (2, 6, 6, 8)
    np.testing.assert_allclose(out, inputs * (1 + m["attention"]), rtol=1e-5, atol=1e-6, err_msg=name)
  s, p = maps["bam_sum"], maps["bam_product"]
  np.testing.assert_allclose(s["attention"], jax.nn.sigmoid(s["channel"][:, None, None] + s["spatial"][..., None]),
                             rtol=1e-6)
  np.testing.assert_allclose(p["attention"], jax.nn.sigmoid(p["channel"][:, None, None] * p["spatial"][..., None]),
                             rtol=1e-6)


def test_bam_resnet18_has_three_maps_at_the_stage_resolutions():
  model = archs.create_model("bam_resnet18", num_classes=10)
  x = jnp.zeros((1, 32, 32, 3))
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  maps = jax.eval_shape(lambda v: attention.bam_maps(model, v, x), variables)
  assert {k: v["attention"].shape for k, v in maps.items()} == {
      "stage_attention1": (1, 8, 8, 64), "stage_attention2": (1, 4, 4, 128), "stage_attention3": (1, 2, 2, 256)}


class OneAttention(nn.Module):
  @nn.compact
  def __call__(self, x, *, train: bool = False):
    return MultiHeadAttention(num_heads=2, name="attn")(x, train=train)


def test_attention_weights_are_the_softmax_of_scaled_query_key_products():
  model = OneAttention()
  x = jax.random.normal(jax.random.key(0), (2, 5, 8))
  variables = jax.jit(model.init)(jax.random.key(1), x)
  (path, got), = attention.attention_weights(model, variables, x).items()
  p = jax.tree.map(np.asarray, variables["params"]["attn"])
  q = np.einsum("bld,dhk->bhlk", x, p["query"]["kernel"]) + p["query"]["bias"][None, :, None]
  k = np.einsum("bld,dhk->bhlk", x, p["key"]["kernel"]) + p["key"]["bias"][None, :, None]
  logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(4)
  want = np.exp(logits - logits.max(-1, keepdims=True))
  assert path == "attn" and got.shape == (2, 2, 5, 5), "(batch, heads, queries, keys)"
  np.testing.assert_allclose(got, want / want.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs, inputs, shapes", [
    ("vit_tiny_patch16_224", dict(patch_size=8, img_size=32, depth=2, num_classes=5), jnp.ones((2, 32, 32, 3)),
     {"block0/attn": (2, 3, 17, 17), "block1/attn": (2, 3, 17, 17)}),
    pytest.param("swin_tiny_patch4_window7_224", dict(depths=(2, 2), num_heads=(2, 4), embed_dim=16, window_size=4,
                                                      num_classes=5), jnp.ones((2, 32, 32, 3)),
                 {"stage0_block0/attn/attn": (8, 2, 16, 16), "stage0_block1/attn/attn": (8, 2, 16, 16),
                  "stage1_block0/attn/attn": (2, 4, 16, 16), "stage1_block1/attn/attn": (2, 4, 16, 16)},
                 marks=pytest.mark.slow),  # ~4 s: the shifted windows' masks
    ("transformer_lm_tiny", {}, jnp.arange(12).reshape(2, 6) + 3,
     {"decoder/layer_0/self_attention": (2, 4, 6, 6), "decoder/layer_1/self_attention": (2, 4, 6, 6)}),
])
def test_attention_weights_per_head_of_each_model(name, kwargs, inputs, shapes):
  model = archs.create_model(name, **kwargs)
  variables = jax.jit(model.init)(jax.random.key(0), inputs)
  maps = attention.attention_weights(model, variables, inputs)
  assert {k: v.shape for k, v in maps.items()} == shapes
  assert list(maps) == list(shapes), "call order"
  for path, w in maps.items():
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5, err_msg=f"{path}: each query's weights sum to 1")
  if name == "transformer_lm_tiny":
    w = np.asarray(maps["decoder/layer_0/self_attention"])
    assert not np.any(np.triu(w, 1)), "causal: no weight on later tokens"
