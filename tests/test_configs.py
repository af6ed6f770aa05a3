"""Every shipped config and preset: valid keys, known names, locked, and its model takes its input."""
import importlib.util
import os

import jax
import jax.numpy as jnp
import pytest

import archs
from train import defaults, optim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_CONFIGS = {"lenet5": [None, "relu"], "resnet50": [None, "imagenet"], "convnext": [None, "imagenet"],
                 "vgg16": [None, "bn", "imagenet"], "googlenet": [None, "paper", "imagenet"]}


def load_config(name, preset):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(preset)


def test_every_config_file_is_listed():
  shipped = {f[:-3] for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".py")}
  assert shipped == set(IMAGE_CONFIGS), f"configs/ holds {sorted(shipped)}; list each with its presets here"


@pytest.mark.parametrize("name,presets", IMAGE_CONFIGS.items())
def test_image_config_is_valid_and_builds_its_model(name, presets):
  for preset in presets:
    c = load_config(name, preset)
    defaults.check_keys(c)
    assert c.optimizer.name in optim.OPTIMIZERS and c.schedule.name in optim.SCHEDULES, (name, preset)
    assert c.batch_size % 8 == 0, f"{name}:{preset}: global batch {c.batch_size} not divisible by 8 devices"
    with pytest.raises(AttributeError):
      c.not_a_key = 1  # locked
    model = archs.create_model(c.model, num_classes=10, **c.model_kwargs)
    x = jnp.zeros((1, c.image_size, c.image_size, c.image_channels))
    out = jax.eval_shape(lambda: model.apply(model.init(jax.random.key(0), x), x))
    assert out.shape == (1, 10), f"{name}:{preset}: expected logits (1, 10), got {out.shape}"


def test_unknown_preset_is_an_error():
  with pytest.raises(Exception, match="preset"):
    load_config("vgg16", "nope")
