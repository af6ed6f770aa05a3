"""Which normalisation, crop and interpolation an image run gets when its config leaves them unset (issue 15):
the model's reference's, except that CIFAR/MNIST/digits trained from scratch keep their own statistics and whole
images, and a run from a reference checkpoint (init_from) normalises as that reference."""
import numpy as np
import pytest

from archs import info
from train import data, defaults, errors, pipeline, transforms as T

VIT = "vit_tiny_patch16_224"  # reference: Inception mean/std 0.5, bicubic, crop_pct 0.9


def _filled(dataset, model="", from_reference=False, **aug):
  config = defaults.base_config()
  config.aug.update(aug)
  return pipeline.preprocessing(config.aug, T.dataset_mean_std(dataset), model, from_reference)


def test_unset_values_come_from_the_model_for_data_without_statistics_of_its_own():
  assert _filled("imagenette/320px", VIT) == {"mean": info.INCEPTION[0], "std": info.INCEPTION[1],
                                              "crop_pct": 0.9, "interpolation": "bicubic"}
  resnet = _filled("imagenet2012", "resnet18")
  assert (resnet["mean"], resnet["crop_pct"], resnet["interpolation"]) == (info.IMAGENET[0], 0.875, "bilinear")
  lenet = _filled("imagenette", "lenet5")  # no statistics in its reference: ImageNet's; its crop_pct 1
  assert (lenet["mean"], lenet["crop_pct"], lenet["interpolation"]) == (T.IMAGENET_MEAN, 1.0, "bilinear")


def test_cifar_from_scratch_keeps_its_statistics_and_whole_images_init_from_takes_the_reference_stats():
  scratch = _filled("cifar10", VIT)
  assert scratch == {"mean": T.CIFAR10_MEAN, "std": T.CIFAR10_STD, "crop_pct": 1.0, "interpolation": "bilinear"}
  tuned = _filled("cifar10", VIT, from_reference=True)
  assert (tuned["mean"], tuned["std"]) == info.INCEPTION, "init_from: the reference's normalisation"
  assert (tuned["crop_pct"], tuned["interpolation"]) == (1.0, "bilinear"), "small images are still seen whole"


def test_values_the_config_sets_win():
  given = dict(mean=(0.1, 0.2, 0.3), std=(1.0, 2.0, 3.0), crop_pct=0.5, interpolation="nearest")
  for dataset, from_reference in (("cifar10", False), ("cifar10", True), ("imagenette", False)):
    assert _filled(dataset, VIT, from_reference, **given) == given


def test_image_transform_uses_the_filled_values():
  config = defaults.base_config()
  transform = pipeline.ImageTransform(config.aug, 32, 3, "imagenette", False, VIT)
  assert (transform.mean, transform.std) == info.INCEPTION
  assert (transform.aug["crop_pct"], transform.aug["interpolation"]) == (0.9, "bicubic")
  example = {"image": np.full((40, 48, 3), 255, np.uint8), "label": 1}
  np.testing.assert_allclose(transform.eval(example)["image"], 1.0, err_msg="255 -> (1 - 0.5) / 0.5")


def test_a_grey_model_given_three_means_is_refused_by_name_and_grey_images_replicate_before_normalising():
  config = defaults.base_config()  # imagenette's unset mean/std are the model's three values
  with pytest.raises(errors.UserError, match=r"aug.mean=\(.*\) has 3 values for image_channels=1; accepted: 1 or 1"):
    pipeline.ImageTransform(config.aug, 8, 1, "imagenette", False, VIT)
  config.aug.mean, config.aug.std = (0.5, 0.25, 0.0), (0.5, 0.5, 0.25)
  transform = pipeline.ImageTransform(config.aug, 8, 3, "imagenette", False, VIT)
  image = transform.eval({"image": np.full((8, 8, 1), 255, np.uint8), "label": 0})["image"]
  np.testing.assert_allclose(image[0, 0], [1.0, 1.5, 4.0], err_msg="grey 1.0 replicated, then each channel's mean/std")

def _digits(aug=(), **settings):
  config = defaults.base_config()
  config.image_size, config.image_channels = 8, 3
  config.aug.update(dict(aug))
  for key, value in settings.items():
    config[key] = value
  return data.load_digits(config)[0].arrays["image"]


def test_digits_normalise_with_their_own_statistics_unless_set_or_from_a_reference():
  scratch = _digits(model=VIT)
  assert abs(scratch.mean()) < 1e-4 and abs(scratch.std() - 1) < 1e-4, "own train statistics"
  raw = _digits(aug=dict(mean=(0.0,), std=(1.0,)))  # the [0, 1] pixels
  assert 0 < raw.min() + 1e-6 and raw.max() <= 1 + 1e-6
  np.testing.assert_allclose(_digits(aug=dict(mean=(0.1, 0.2, 0.3), std=(2.0, 2.0, 2.0))),
                             (raw - np.array([0.1, 0.2, 0.3])) / 2.0, atol=1e-6)
  tuned = _digits(model=VIT, init_from="vit.safetensors")
  np.testing.assert_allclose(tuned, (raw - 0.5) / 0.5, atol=1e-5, err_msg="init_from: the reference's mean/std")
  with pytest.raises(errors.UserError, match=r"aug.mean=\(0.1, 0.2, 0.3\) for 1-channel digits"):
    _digits(image_channels=1, aug=dict(mean=(0.1, 0.2, 0.3), std=(1.0, 1.0, 1.0)))
