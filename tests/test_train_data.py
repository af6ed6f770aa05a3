"""Data: TFDS through grain without TensorFlow, the embedded digits, deterministic order, eval padding."""
import json
import os
import subprocess
import sys
import textwrap

import chex
import numpy as np
import pytest

from train import data, defaults, errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
  import json, sys
  import tensorflow_datasets as tfds
  from train import defaults, trainer
  results = {}
  for name, channels, policy in [("cifar10", 3, tfds.testing.MockPolicy.AUTO),
                                 ("mnist", 1, tfds.testing.MockPolicy.USE_CODE)]:
    c = defaults.base_config()
    c.dataset, c.image_channels, c.num_epochs, c.batch_size, c.num_devices = name, channels, 1, 16, 2
    c.augment, c.steps_per_call, c.learning_rate = True, 1, 0.01
    with tfds.testing.mock_data(num_examples=40, policy=policy):
      results[name] = trainer.train_and_evaluate(c, sys.argv[1] + "/" + name)
  results["tensorflow_imported"] = "tensorflow" in sys.modules
  print(json.dumps(results))
""")


def test_tfds_mock_data_through_grain_without_tensorflow(tmp_path):
  done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads(done.stdout.strip().splitlines()[-1])
  assert not results["tensorflow_imported"], "loading TFDS data must not import TensorFlow"
  for name in ("cifar10", "mnist"):
    assert results[name]["steps"] == 40 // 16, f"{name}: 40 mock examples, batch 16 -> 2 steps"
    assert 0.0 <= results[name]["eval_accuracy"] <= 1.0


def test_unprepared_tfds_dataset_says_how_to_prepare(tmp_path):
  c = defaults.base_config()
  c.dataset, c.data_dir = "cifar10", str(tmp_path)
  with pytest.raises(errors.UserError, match=r"not prepared .*pip install -e \"\.\[train,prepare\]\" && tfds build cifar10 --file_format array_record --data_dir "):
    data.image_classification(c)


def test_digits_split_and_normalization():
  c = defaults.base_config()
  c.image_size, c.image_channels = 16, 3
  train, test, info = data.image_classification(c)
  assert (len(train), len(test), info["num_classes"]) == (1437, 360, 10)
  images = train.arrays["image"]
  chex.assert_shape(images, (1437, 16, 16, 3))
  chex.assert_type(images, np.float32)
  assert abs(images.mean()) < 1e-4 and abs(images.std() - 1) < 1e-4, "train images normalized to mean 0, std 1"
  assert sorted(set(test.arrays["label"].tolist())) == list(range(10))


def test_train_order_is_a_function_of_seed_epoch_step():
  source = data.ArraySource({"x": np.arange(100), "label": np.arange(100)})
  a = data.train_epoch(source, seed=3, epoch=2, global_batch=8, augment=False)
  b = data.train_epoch(source, seed=3, epoch=2, global_batch=8, augment=False)
  np.testing.assert_array_equal(a[5]["x"], b[5]["x"], err_msg="same (seed, epoch, step) -> same batch")
  other = data.train_epoch(source, seed=3, epoch=3, global_batch=8, augment=False)
  assert not np.array_equal(a[0]["x"], other[0]["x"]), "each epoch has its own order"
  assert len(a) == 12, "100 // 8: the incomplete last batch is dropped"
  seen = np.concatenate([a[i]["x"] for i in range(len(a))])
  assert len(set(seen.tolist())) == 96, "no example twice within an epoch"


def test_augmentation_is_deterministic():
  source = data.ArraySource({"image": np.random.default_rng(0).standard_normal((20, 8, 8, 1), np.float32),
                             "label": np.zeros(20, np.int32)})
  a = data.train_epoch(source, seed=0, epoch=1, global_batch=4, augment=True)[2]["image"]
  b = data.train_epoch(source, seed=0, epoch=1, global_batch=4, augment=True)[2]["image"]
  np.testing.assert_array_equal(a, b, err_msg="augmentation should be a function of (seed, epoch, index)")


def test_eval_counts_every_example_once():
  source = data.ArraySource({"x": np.arange(1, 38, dtype=np.float32), "label": np.zeros(37, np.int32)})
  batches = list(data.eval_batches(source, local_batch=16, num_batches=data.num_eval_batches(37, 1, 16),
                                   num_devices=4))
  assert len(batches) == 3 and batches[0]["x"].shape == (4, 4)
  mask = np.concatenate([b["mask"].ravel() for b in batches])
  values = np.concatenate([b["x"].ravel() for b in batches])
  assert mask.sum() == 37 and (values * mask).sum() == sum(range(1, 38)), "37 examples, each exactly once"


def test_unprepared_in_the_default_data_dir_is_the_same_one_line_error(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds
  monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path))  # an empty default data_dir
  c = defaults.base_config()
  c.dataset = "cifar10"
  with pytest.raises(errors.UserError, match="not prepared in the TFDS default data_dir") as e:
    data.image_classification(c)
  assert "\n" not in str(e.value) and data.prepare_command("cifar10") in str(e.value)


def test_the_prepare_command_names_what_tfds_build_imports():
  """`tfds build` (the `tfds` script of tensorflow-datasets) imports these before it builds anything."""
  import importlib.metadata
  import tomllib
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    extra = tomllib.load(f)["project"]["optional-dependencies"]["prepare"]
  names = {r.split(">")[0].split("=")[0].split("[")[0].strip().lower().replace("_", "-") for r in extra}
  assert {"tensorflow-cpu", "apache-beam", "mlcroissant", "importlib-resources"} <= names
  scripts = importlib.metadata.entry_points(group="console_scripts")
  assert any(s.name == "tfds" for s in scripts), "the tfds command comes with tensorflow-datasets"
  with open(os.path.join(ROOT, "README.md")) as f:
    assert data.prepare_command("cifar10") in f.read(), "README names the command the error names"
