"""Every shipped config and preset: valid keys, known names, locked, and its model takes its input."""
import os

import jax
import jax.numpy as jnp
import pytest

import archs
from train import defaults, optim

IMAGE_CONFIGS = {"lenet5": [None, "relu", "paper"],
                 "resnet50": [None, "imagenet", "rs0", "rs8", "rs9", "rs", "deep_training", "imagenet_deep_training"],
                 "convnext": [None, "imagenet", "cifar10"],
                 "vgg16": [None, "bn", "imagenet"], "googlenet": [None, "paper", "imagenet"], "hypernet": [None],
                 "vanillanet": [None, "vanillanet_9", "vanillanet_13_x1_5_ada_pool", "imagenet", "imagenet_6", "cifar10"],
                 "vit": [None, "imagenet"], "swin": [None, "imagenet"], "cifar10_resnet": [None, "wrn28_10"]}
# Built and run by tests/test_tasks_*.py; checked here for keys and names.
TASK_CONFIGS = {"transformer": [None, "copy", "reverse", "sort", "paper", "lstm", "lstm_bahdanau", "lstm_luong"], "lstm": [None], "tnn": [None],
                "retnet": [None, "parallel", "chunkwise", "recurrent"],
                "char_lm": [None, "lstm", "tnn", "retnet", "retnet_parallel", "retnet_chunkwise", "retnet_recurrent"],
                "pondernet": [None, "paper"], "gcn": [None], "regression": [None, "linear", "logistic", "softmax", "perceptron"]}


def test_every_config_file_is_listed():
  shipped = {f[:-3] for f in os.listdir(defaults.CONFIGS_DIR) if f.endswith(".py")}
  assert shipped == set(IMAGE_CONFIGS) | set(TASK_CONFIGS), f"configs/ holds {sorted(shipped)}; list each here"


def check_config(c, where):
  defaults.check_keys(c)
  assert c.model in archs.list_models(), f"{where}: unknown model {c.model!r}"
  assert c.optimizer.name in optim.OPTIMIZERS and c.schedule.name in optim.SCHEDULES, where
  # The graph task's batch is copies of its one graph: 1 on one device (on N devices, --config.batch_size=N).
  assert c.batch_size % 8 == 0 or c.task == "graph", f"{where}: global batch {c.batch_size} not divisible by 8"
  for what in ("log", "checkpoint"):
    assert not (c[f"{what}_every_epochs"] > 0 and c[f"{what}_every_steps"] > 0), \
        f"{where}: {what} cadence set both in epochs and in steps; the trainer refuses that"
  with pytest.raises(AttributeError):
    c.not_a_key = 1  # locked


@pytest.mark.parametrize("name,presets", TASK_CONFIGS.items())
def test_task_config_is_valid(name, presets):
  for preset in presets:
    check_config(defaults.load_config(name, preset), f"{name}:{preset}")


@pytest.mark.parametrize("name,presets", IMAGE_CONFIGS.items())
def test_image_config_is_valid_and_builds_its_model(name, presets):
  for preset in presets:
    c = defaults.load_config(name, preset)
    check_config(c, f"{name}:{preset}")
    model = archs.create_model(c.model, num_classes=10, **c.model_kwargs)
    x = jnp.zeros((1, c.image_size, c.image_size, c.image_channels))
    out = jax.eval_shape(lambda: model.apply(model.init(jax.random.key(0), x), x))
    assert out.shape == (1, 10), f"{name}:{preset}: expected logits (1, 10), got {out.shape}"


def test_unknown_preset_is_an_error():
  with pytest.raises(Exception, match="preset"):
    defaults.load_config("vgg16", "nope")


@pytest.mark.parametrize("old,preset", [("lstm", None), ("tnn", None), ("retnet", None), ("retnet", "chunkwise")])
def test_former_char_lm_config_names_are_char_lm_presets(old, preset):
  new = f"{old}_{preset}" if preset else old
  assert defaults.load_config(old, preset).to_dict() == defaults.load_config("char_lm", new).to_dict(), \
      f"configs/{old}.py:{preset} should equal configs/char_lm.py:{new}"
