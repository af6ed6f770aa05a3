"""The VGG-16 and GoogLeNet configs: every preset names a registered model that accepts its kwargs."""
import importlib

import jax
import jax.numpy as jnp
import pytest

import archs


@pytest.mark.parametrize("module", ["configs.vgg16", "configs.googlenet"])
def test_presets_build_their_model(module):
  mod = importlib.import_module(module)
  for preset in mod.PRESETS:
    c = mod.get_config(preset)
    model = archs.create_model(c.model, num_classes=10, **c.model_kwargs)
    x = jnp.zeros((1, c.image_size, c.image_size, c.image_channels))
    out = jax.eval_shape(lambda: model.apply(model.init(jax.random.key(0), x), x))
    assert out.shape == (1, 10), f"{module}:{preset}: expected logits (1, 10), got {out.shape}"
  with pytest.raises(ValueError, match="unknown"):
    mod.get_config("nope")
