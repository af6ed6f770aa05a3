"""Each dataset preset (the papers' recipes) runs end to end on TFDS mock data: its transforms, mixing, optimizer,
schedule and model, for two steps at 32x32 (the recipes' accuracies cannot be measured here: no download)."""
import math

import numpy as np
import pytest

from train import defaults, trainer

PRESETS = [("convnext", "imagenet"), ("convnext", "cifar10"), ("resnet50", "imagenet"), ("resnet50", "rs"),
           ("vanillanet", "imagenet"), ("vanillanet", "imagenet_6"), ("vanillanet", "cifar10"),
           ("cifar10_resnet", "resnet18"), ("cifar10_resnet", "wrn28_10")]
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fast_compile")]


@pytest.mark.parametrize("name,preset", PRESETS)
def test_preset_trains_on_tfds_mock_data(name, preset, tmp_path):
  import tensorflow_datasets as tfds
  c = defaults.load_config(name, preset)
  assert c.dataset in ("imagenet2012", "cifar10") and c.augment
  c.unlock()
  c.image_size, c.batch_size, c.eval_batch_size, c.num_devices, c.num_epochs = 32, 8, 8, 1, 1
  c.steps_per_call, c.data_workers = 1, 0
  with tfds.testing.mock_data(num_examples=16):
    summary = trainer.train_and_evaluate(c, str(tmp_path))
  assert summary["steps"] == 2 and summary["model"] == c.model
  assert math.isfinite(summary["eval_loss"]) and 0 <= summary["eval_accuracy"] <= 1
