"""grain workers and device prefetch (train/pipeline.py): the batches do not depend on how they are produced."""
import json

import jax
import numpy as np
import pytest

from train import checkpoint, data, defaults, errors, pipeline, trainer


def _source(n=40):
  rng = np.random.default_rng(0)
  return data.ArraySource({"image": rng.standard_normal((n, 8, 8, 1)).astype(np.float32),
                           "label": np.arange(n, dtype=np.int32)})


def test_workers_and_prefetch_give_the_batches_of_the_main_process():
  ds = data.train_epoch(_source(), seed=1, epoch=2, global_batch=4, augment=True)  # 10 batches, augmented
  expected = [data.device_batches(ds, s, 2, 2) for s in (3, 5, 7)]  # from step 3 on, 2 per call: 3 calls
  for workers, prefetch in ((0, 0), (2, 2)):
    calls = list(pipeline.train_calls(ds, 3, 2, 2, workers=workers, prefetch=prefetch))
    assert len(calls) == 3, f"workers={workers}: calls of steps 3-4, 5-6, 7-8 (step 9 is not a whole call)"
    for got, want in zip(calls, expected):
      for name in ("image", "label"):
        np.testing.assert_array_equal(np.asarray(got[name]), want[name], f"workers={workers} prefetch={prefetch}")
      assert got["image"].shape == (2, 2, 2, 8, 8, 1), "(devices, K, per-device batch, ...)"


def test_one_reader_across_epochs_gives_each_epochs_batches():
  """Steps 7..14 of a 5-step-per-epoch run (epochs 1 and 2, the boundary inside a call) with 2 workers read once."""
  epoch_fn = lambda e: data.train_epoch(_source(20), seed=1, epoch=e, global_batch=4, augment=True)
  run = pipeline.across_epochs(epoch_fn, 5, 15)
  calls = list(pipeline.train_calls(run, 7, 2, 1, workers=2, prefetch=2))
  assert len(calls) == 4, "steps 7-8, 9-10, 11-12, 13-14"
  for c, got in enumerate(calls):
    for i in range(2):
      epoch, step = divmod(7 + 2 * c + i, 5)
      want = epoch_fn(epoch)[step]
      for name in ("image", "label"):
        np.testing.assert_array_equal(np.asarray(got[name])[0, i], want[name], f"epoch {epoch} step {step}")


def test_a_run_starts_one_reader(monkeypatch, tmp_path):
  started = []
  train_calls = pipeline.train_calls
  monkeypatch.setattr(pipeline, "train_calls", lambda *a, **kw: started.append(a[1]) or train_calls(*a, **kw))
  c = defaults.base_config()
  c.num_epochs, c.batch_size, c.synthetic_examples, c.dataset, c.image_size = 3, 8, 32, "synthetic", 32
  c.steps_per_call, c.num_devices = 2, 1
  assert trainer.train_and_evaluate(c, str(tmp_path))["steps"] == 12
  assert started == [0], f"one reader for 3 epochs, from step 0; started at steps {started}"


def test_data_workers_default_and_bad_values():
  assert pipeline.resolve_workers(-1, _source()) == 0, "in-memory arrays are read in the main process"
  assert pipeline.resolve_workers(3, _source()) == 3
  with pytest.raises(errors.UserError, match="data_workers=-2"):
    pipeline.resolve_workers(-2, _source())


@pytest.mark.slow
# After other tests in the same process, objects of the earlier runs' reader threads are collected while tfds's
# lazy-import context is open (etils patches imports process-wide) and their warnings fail to import tracemalloc:
# unraisable warnings of the test process, not of the run (a run loads TFDS before it starts any thread).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_resume_mid_epoch_with_workers_is_bit_exact(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds

  def config():
    c = defaults.base_config()
    c.dataset, c.image_size, c.image_channels, c.num_epochs, c.batch_size = "cifar10", 32, 3, 2, 8
    c.augment, c.aug.crop, c.aug.randaugment_n, c.aug.erasing, c.aug.mixup = True, "random_resized", 2, 0.5, 0.8
    c.steps_per_call, c.checkpoint_every_steps, c.log_every_steps, c.data_workers, c.num_devices = 1, 2, 1, 2, 2
    return c

  class Stop(Exception):
    pass

  save = checkpoint.Checkpoints.save

  def save_then_stop(self, state):
    save(self, state)
    if int(jax.device_get(state.step)) == 2:
      raise Stop  # killed after the checkpoint of step 2, in the middle of the first epoch (5 steps)

  with tfds.testing.mock_data(num_examples=40):
    straight = trainer.train_and_evaluate(config(), str(tmp_path / "straight"))
    monkeypatch.setattr(checkpoint.Checkpoints, "save", save_then_stop)
    with pytest.raises(Stop):
      trainer.train_and_evaluate(config(), str(tmp_path / "resumed"))
    monkeypatch.setattr(checkpoint.Checkpoints, "save", save)
    resumed = trainer.train_and_evaluate(config(), str(tmp_path / "resumed"))
  assert straight["steps"] == resumed["steps"] == 10
  assert json.dumps([straight["eval_loss"], straight["eval_accuracy"]]) == json.dumps(
      [resumed["eval_loss"], resumed["eval_accuracy"]]), "a resumed run with workers is bit-exact"
