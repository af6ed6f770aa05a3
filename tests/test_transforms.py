"""Host transforms against their definitions (torchvision / timm semantics)."""
import math

import numpy as np
import pytest

from train import defaults, errors, pipeline, transforms as T


def test_random_resized_crop_area_and_ratio_lie_in_their_ranges():
  rng = np.random.default_rng(0)
  scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
  areas, aspects = [], []
  for _ in range(500):
    top, left, h, w = T.random_resized_crop_box(240, 320, rng, scale, ratio)
    assert 0 <= top and top + h <= 240 and 0 <= left and left + w <= 320
    areas.append(h * w / (240 * 320))
    aspects.append(w / h)
  # rounding to whole pixels moves a fraction or ratio by at most ~1 pixel's worth
  assert min(areas) >= scale[0] * 0.95 and max(areas) <= scale[1] + 1e-9
  assert min(aspects) >= ratio[0] * 0.97 and max(aspects) <= ratio[1] * 1.03
  assert max(areas) > 0.8 and min(areas) < 0.15, "the fraction should cover its range"


def test_random_resized_crop_falls_back_to_the_clamped_centre_crop():
  rng = np.random.default_rng(0)
  # an area above the image's can never fit: after the attempts, the central crop at the clamped ratio
  assert T.random_resized_crop_box(100, 400, rng, scale=(2.0, 3.0)) == (0, (400 - 133) // 2, 100, 133)
  assert T.random_resized_crop_box(100, 100, rng, scale=(2.0, 3.0)) == (0, 0, 100, 100)
  out = T.random_resized_crop(np.zeros((50, 70, 3), np.uint8), 24, rng)
  assert out.shape == (24, 24, 3) and out.dtype == np.uint8


def test_eval_resize_shorter_side_then_centre_crop():
  # columns numbered: a centre crop keeps the middle columns
  image = np.broadcast_to(np.arange(200, dtype=np.uint8)[None, :, None], (100, 200, 3)).copy()
  out = T.resize_center_crop(image, 32, crop_pct=0.5, interpolation="nearest")
  # shorter side 100 -> floor(32 / 0.5) = 64, longer 200 -> 128; the central 32 columns of 128 are 48..79
  assert out.shape == (32, 32, 3)
  expected = image[0, (np.arange(48, 80) * 200 / 128).astype(int), 0]
  np.testing.assert_allclose(out[0, :, 0], expected, atol=2)
  again = T.resize_center_crop(image, 32, crop_pct=0.5, interpolation="nearest")
  np.testing.assert_array_equal(out, again)
  same = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
  np.testing.assert_array_equal(T.resize_center_crop(same, 32, crop_pct=1.0), same, "crop_pct 1 at size: identity")
  with pytest.raises(errors.UserError, match="crop_pct=1.5"):
    T.resize_center_crop(same, 32, crop_pct=1.5)


def test_normalize_per_channel_and_dataset_defaults():
  image = np.full((4, 4, 3), 255, np.uint8)
  out = T.normalize(image, T.IMAGENET_MEAN, T.IMAGENET_STD)
  np.testing.assert_allclose(out[0, 0], (1 - np.array(T.IMAGENET_MEAN)) / np.array(T.IMAGENET_STD), rtol=1e-6)
  assert T.dataset_mean_std("cifar10") == (T.CIFAR10_MEAN, T.CIFAR10_STD)
  assert T.dataset_mean_std("cifar100/x") == (T.CIFAR100_MEAN, T.CIFAR100_STD), "the name before '/' counts"
  assert T.dataset_mean_std("imagenette/320px") is None, "none of its own: the model's (tests/test_preprocessing.py)"


def test_random_erasing_replaces_one_rectangle_in_its_area_range():
  image = np.zeros((64, 64, 3), np.float32)
  np.testing.assert_array_equal(T.random_erasing(image, np.random.default_rng(0), prob=0.0), image)
  for seed in range(20):
    out = T.random_erasing(image, np.random.default_rng(seed), prob=1.0)
    rows, cols = np.nonzero((out != 0).any(-1))
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert (out != 0).any(-1).sum() == h * w, "one filled rectangle"
    assert 0.02 * 0.8 <= h * w / 64 ** 2 <= 1 / 3 * 1.2
    assert abs(out[out != 0].std() - 1) < 0.5, "per-pixel standard-normal noise"


@pytest.mark.parametrize("name", sorted(T.RAND_OPS))
def test_rand_augment_ops_keep_shape_and_increasing_ops_are_identity_at_level_0(name):
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
  pil = T._pil(image)
  for level in (0.0, 0.5, 1.0):
    out = np.asarray(T.RAND_OPS[name](pil, level, rng, (124, 116, 104)))
    assert out.shape == image.shape and out.dtype == np.uint8
  if name not in ("AutoContrast", "Equalize", "Invert", "PosterizeIncreasing"):
    np.testing.assert_array_equal(np.asarray(T.RAND_OPS[name](pil, 0.0, rng, (0, 0, 0))), image,
                                  f"{name} at magnitude 0 changes nothing")


def test_rand_augment_is_a_function_of_the_generator():
  image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
  a = T.rand_augment(image, np.random.default_rng(5), n=2, m=9)
  b = T.rand_augment(image, np.random.default_rng(5), n=2, m=9)
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(T.rand_augment(image, np.random.default_rng(5), n=0, m=9), image)
  changed = sum(not np.array_equal(T.rand_augment(image, np.random.default_rng(s), 2, 9), image) for s in range(20))
  assert changed >= 10, "2 ops at probability 0.5 each leave 1 in 4 images unchanged"


def test_image_transform_train_and_eval_forms():
  c = defaults.base_config()
  c.aug.crop, c.aug.randaugment_n, c.aug.erasing, c.aug.crop_pct = "random_resized", 2, 0.5, 0.875
  t = pipeline.ImageTransform(c.aug, 24, 3, "mnist", augment=True)
  example = {"image": np.random.default_rng(0).integers(0, 256, (40, 30, 1), dtype=np.uint8), "label": 3}
  train = t.train(example, np.random.default_rng(0))
  assert train["image"].shape == (24, 24, 3) and train["image"].dtype == np.float32, "gray replicated"
  e1, e2 = t.eval(example), t.eval(example)
  np.testing.assert_array_equal(e1["image"], e2["image"])
  assert e1["image"].shape == (24, 24, 3) and e1["label"] == 3
  with pytest.raises(errors.UserError, match="aug.crop"):
    c.aug.crop = "inception"
    pipeline.ImageTransform(c.aug, 24, 3, "mnist", augment=True)
  assert math.isclose(T.dataset_mean_std("mnist")[0][0], 0.1307)
