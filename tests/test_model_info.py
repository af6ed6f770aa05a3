"""archs.model_info: each model's input facts; the stated minimum image size holds (builds there, fails below)."""
import pytest

import archs
from archs import info
from train import defaults, errors, trainer

SAMPLE = ["alexnet", "googlenet", "lenet5", "fractalnet20", "resnet18"]  # the default run; all with -m slow


def _check_minimum(name):
  smallest = info.MIN_IMAGE_SIZES[name]
  model, channels = archs.create_model(name), archs.model_info(name).image_channels
  assert info.accepts(model, smallest, channels), f"{name} should build at its minimum {smallest}x{smallest}"
  if smallest > 1:
    assert not info.accepts(model, smallest - 1, channels), f"{name} should fail below {smallest}x{smallest}"
  step, largest = archs.model_info(name).image_size_multiple, archs.model_info(name).max_image_size
  assert info.accepts(model, smallest + step, channels) == (largest is None), f"{name}: above its minimum"


@pytest.mark.parametrize("name", SAMPLE)
def test_stated_minimum_holds(name):
  _check_minimum(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(info.MIN_IMAGE_SIZES) - set(SAMPLE)))
def test_stated_minimum_holds_for_every_image_model(name):
  _check_minimum(name)


def test_every_image_model_has_a_measured_minimum():
  images = [n for n in archs.list_models() if len(archs.costs.default_inputs(n)) == 1
            and len(archs.costs.default_inputs(n)[0][0]) == 4]
  assert sorted(set(images) - set(info.MIN_IMAGE_SIZES)) == [], "measure with info.min_image_size(name, measure=True)"


@pytest.mark.parametrize("name,facts", [
    ("resnet50", dict(task="image", input_size=((224, 224, 3),), head="fc", interpolation="bilinear",
                      crop_pct=0.875, mean=info.IMAGENET[0], output_size_field="num_classes")),
    ("convnext_tiny", dict(head="head", interpolation="bicubic")),
    ("resnet20_cifar", dict(input_size=((32, 32, 3),), mean=info.CIFAR10[0], crop_pct=1.0)),
    ("lenet5", dict(min_image_size=32, max_image_size=32, image_channels=1, mean=None)),
    ("lstm_tiny", dict(task="tokens", min_image_size=None, mean=None, output_size_field="vocab_size")),
    ("transformer_tiny", dict(task="seq2seq")),
])
def test_model_info_facts(name, facts):
  got = archs.model_info(name)
  for field, value in facts.items():
    assert getattr(got, field) == value, f"{name}.{field}: expected {value!r}, got {getattr(got, field)!r}"


def test_vit_takes_multiples_of_its_patch():
  model = archs.create_model("vit_tiny_patch16_224")
  assert [info.accepts(model, s, 3) for s in (16, 24, 32, 64)] == [True, False, True, True]
  assert archs.model_info("vit_tiny_patch16_224").image_size_multiple == 16


def test_an_image_size_vit_cannot_take_names_the_next_multiple(tmp_path):
  config = defaults.load_config("vit")  # digits: patch_size 4 (model_kwargs)
  config.image_size, config.num_epochs = 30, 1
  with pytest.raises(errors.UserError, match=r"multiples of 4, got 30; set --config.image_size=32"):
    trainer.train_and_evaluate(config, str(tmp_path))


def test_too_small_an_image_names_the_size_to_use(tmp_path):
  config = defaults.load_config("resnet50")
  config.model, config.num_epochs = "alexnet", 1
  with pytest.raises(errors.UserError, match=r"needs images of at least 199x199, got 32x32; set "
                                             r"--config.image_size=199"):
    trainer.train_and_evaluate(config, str(tmp_path))


def test_a_run_from_a_reference_checkpoint_normalises_as_the_reference():
  from train import pipeline, transforms
  config = defaults.load_config("resnet50")
  config.model = "vit_base_patch16_224"
  scratch = pipeline.ImageTransform(config.aug, 32, 3, "cifar10", False, config.model)
  assert scratch.mean == transforms.CIFAR10_MEAN, "trained from scratch: the dataset's statistics"
  transform = pipeline.ImageTransform(config.aug, 32, 3, "cifar10", False, config.model, from_reference=True)
  assert transform.mean == (0.5, 0.5, 0.5) and transform.std == (0.5, 0.5, 0.5)
