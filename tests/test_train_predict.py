"""python -m train.predict: image files preprocessed as the run's evaluation, top-K classes by name."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from train import data, defaults, predict, trainer


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  config = defaults.load_config("lenet5")
  config.num_epochs, config.batch_size = 1, 256
  trainer.train_and_evaluate(config, str(workdir))
  return str(workdir)


def _png(path, pixels: np.ndarray):
  Image.fromarray(pixels).save(path)
  return str(path)


def _digit_pngs(tmp_path, count: int, scale: int = 1, invert: bool = False):
  """The first `count` test digits written as grey PNGs (ink light), each pixel `scale` x `scale`."""
  images, _ = data.digits_table()
  paths = []
  for i in range(count):
    grey = np.round(images[data.DIGITS_TRAIN + i, ..., 0] * 255).astype(np.uint8)
    grey = 255 - grey if invert else grey
    paths.append(_png(tmp_path / f"digit{i}.png", np.kron(grey, np.ones((scale, scale), np.uint8))))
  return paths


@pytest.mark.parametrize("scale,invert", [(1, False), (4, False), (4, True)])
def test_digit_files_predict_as_the_model_on_the_arrays(digits_run, tmp_path, scale, invert):
  predictor = predict.Predictor(digits_run, invert=invert)
  arrays = np.stack([predictor.run.eval_source[i]["image"] for i in range(24)])
  paths = _digit_pngs(tmp_path, 24, scale, invert)
  files = np.stack([predictor.preprocess(p) for p in paths])
  # The PNG holds 8-bit grey (v / 16 rounded to 1/255): the inputs agree to that rounding, the classes exactly.
  np.testing.assert_allclose(files, arrays, atol=0.02)
  from_arrays, from_files = predictor.probabilities(arrays), predictor.probabilities(files)
  np.testing.assert_array_equal(from_files.argmax(-1), from_arrays.argmax(-1))
  np.testing.assert_allclose(from_files, from_arrays, atol=0.01)


def test_top_k_is_sorted_named_and_sums_below_one(digits_run, tmp_path):
  predictor = predict.Predictor(digits_run)
  paths = _digit_pngs(tmp_path, 3)
  results = predictor.top(paths, k=5)
  assert [p for p, _ in results] == paths
  probs = predictor.probabilities(np.stack([predictor.preprocess(p) for p in paths]))
  for (_, classes), row in zip(results, probs):
    assert len(classes) == 5 and len({c for c, _ in classes}) == 5
    values = [p for _, p in classes]
    assert values == sorted(values, reverse=True), f"top-5 not in decreasing order: {values}"
    assert [c for c, _ in classes] == [str(c) for c in np.argsort(-row, kind="stable")[:5]]
    assert values[0] == pytest.approx(row.max()) and sum(values) <= 1 + 1e-6
  assert len(predictor.top(paths[:1], k=10)[0][1]) == 10 and len(predictor.top(paths[:1], k=20)[0][1]) == 10


def test_cli_prints_one_line_per_image(digits_run, tmp_path, capsys):
  paths = _digit_pngs(tmp_path, 2)
  assert predict.main(["--workdir", digits_run, *paths, "--top", "3"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert [line.split(":")[0] for line in lines] == paths
  assert all(len(line.split(": ", 1)[1].split(", ")) == 3 for line in lines), lines


@pytest.mark.parametrize("case,expected", [("missing", "does not exist"), ("unreadable", "cannot be read"),
                                           ("no_run", "has no config.json"), ("no_checkpoint", "has no checkpoint"),
                                           ("top", "--top 0")])
def test_bad_input_is_one_line(digits_run, tmp_path, capsys, case, expected):
  good = _digit_pngs(tmp_path, 1)[0]
  (tmp_path / "text.png").write_text("not an image")
  (tmp_path / "fresh").mkdir()  # a run that wrote its config but no checkpoint yet
  shutil.copy(os.path.join(digits_run, "config.json"), tmp_path / "fresh")
  argv = {"missing": ["--workdir", digits_run, str(tmp_path / "absent.png")],
          "unreadable": ["--workdir", digits_run, str(tmp_path / "text.png")],
          "no_run": ["--workdir", str(tmp_path), good],
          "no_checkpoint": ["--workdir", str(tmp_path / "fresh"), good],
          "top": ["--workdir", digits_run, good, "--top", "0"]}[case]
  assert predict.main(argv) == 2
  err = capsys.readouterr().err
  assert expected in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
@pytest.mark.usefixtures("fast_compile")
def test_tfds_file_is_preprocessed_as_the_eval_split_and_named(tmp_path):
  import tensorflow_datasets as tfds
  c = defaults.base_config()
  c.dataset, c.image_channels, c.num_epochs, c.batch_size, c.num_devices = "cifar10", 3, 1, 8, 1
  c.steps_per_call, c.data_workers, c.aug.crop_pct = 1, 0, 0.875
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(c, str(tmp_path / "run"))
    predictor = predict.Predictor(str(tmp_path / "run"))
    raw = predictor.run.eval_source.src[0]["image"]
    path = _png(tmp_path / "x.png", raw)
    np.testing.assert_array_equal(predictor.preprocess(path), predictor.run.eval_source[0]["image"])
    (_, classes), = predictor.top([path])
    # Mock data has no dataset_info.json, so TFDS names the classes '0'..'9'; a prepared cifar10 'airplane', ...
    assert predictor.names == tfds.builder("cifar10").info.features["label"].names and len(predictor.names) == 10
  assert len(classes) == 5 and all(name in predictor.names for name, _ in classes)
