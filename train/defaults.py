"""Every setting of the training program, with its default. Configs start from `base_config()`.

The returned ConfigDict is locked: a key that is not here is an error (a typo never goes unnoticed).
`model_kwargs`, `task_kwargs` and `scheduled_args` hold model/task-specific entries; a config declares the ones it uses.
"""
from __future__ import annotations

import importlib.util
import os

import ml_collections

from train import errors

CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Model and task.
  c.model = "lenet5"
  c.model_kwargs = ml_collections.ConfigDict()  # overrides for archs.create_model (drop_path_rate, ...)
  c.task = "classification"                      # classification | seq2seq | lm | parity | graph | regression
  c.task_kwargs = ml_collections.ConfigDict()    # task-specific options (train/tasks/*.py)
  c.dtype = "float32"                            # compute dtype; parameters stay float32
  c.aux_loss_weight = 0.3                        # weight of each sown 'aux_logits' loss (GoogLeNet)
  c.label_smoothing = 0.0
  c.loss = "cross_entropy"                       # classification: cross_entropy | bce (per class, timm's BCE)
  c.init_from = ""                               # reference checkpoint to start from (archs.load_pretrained source)
  # Data.
  c.dataset = "digits"                           # image tasks: digits | synthetic | tfds:<name> (e.g. tfds:cifar10)
  c.data_dir = ""                                # TFDS data_dir ('' = TFDS default)
  c.train_split, c.eval_split = "train", "test"  # TFDS split names (imagenet2012: validation)
  c.image_size = 32
  c.image_channels = 1                           # 1, or 3 (replicated gray for digits/mnist)
  c.num_classes = 0                              # 0 = from the dataset
  c.augment = False                              # training augmentation as `aug` says (False: none)
  # Image transforms (train/transforms.py, train/pipeline.py; mixup/cutmix on the device: train/mixing.py).
  # crop: 'pad' (random crop of the `pad`-padded image, CIFAR) | 'random_resized' (scale, ratio as torchvision)
  # | 'none'. Embedded digits/synthetic (already float) take 'pad' + flip only. Evaluation: the shorter side to
  # image_size / crop_pct, then the central crop. Unset mean/std (()), crop_pct (0), interpolation (''): the
  # model's reference's (archs.model_info), but CIFAR/MNIST/digits from scratch keep their own statistics and
  # whole images (crop_pct 1, bilinear); a run from init_from normalises as its reference (train/pipeline.py).
  # randaugment_n > 0: timm's rand-m{m}-n{n}-mstd{mstd}-inc1. erasing: timm's random-erasing probability.
  # mixup/cutmix: Beta(alpha, alpha) (0 = off); mix_prob: chance a batch is mixed; switch_prob: cutmix's share.
  c.aug = ml_collections.ConfigDict(dict(
      crop="pad", pad=4, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip=True, interpolation="",
      crop_pct=0.0, mean=(), std=(), randaugment_n=0, randaugment_m=9.0, randaugment_mstd=0.5, erasing=0.0,
      mixup=0.0, cutmix=0.0, mix_prob=1.0, switch_prob=0.5))
  c.data_workers = -1                            # grain worker processes; -1 = from the CPU count, 0 = none
  c.prefetch_calls = 2                           # device batches put on the devices ahead of the step (0 = off)
  c.synthetic_examples = 1024                    # size of the synthetic train set
  # Schedule of the run.
  c.num_epochs = 10
  c.batch_size = 128                             # GLOBAL batch (all devices of all hosts)
  c.eval_batch_size = 0                          # 0 = batch_size
  c.seed = 0
  c.steps_per_call = 8                           # K steps per device call (lax.scan); a divisor of steps/epoch
  c.num_devices = 0                              # 0 = all local devices
  c.distributed = False                          # call jax.distributed.initialize() (also if JAX_COORDINATOR_ADDRESS)
  # Optimizer.
  # `momentum` is used by momentum, nesterov and rmsprop (0 = none); b1, b2, eps by the Adam family. lamb_adapt:
  # 'all' (the trust ratio on every parameter) | 'decayed' (timm's Lamb). layer_decay < 1: layer-wise lr decay
  # (VanillaNet's stem, stages_i, head; train/optim.py).
  c.optimizer = ml_collections.ConfigDict(dict(
      name="momentum", momentum=0.9, b1=0.9, b2=0.999, eps=1e-8, decay=0.9, initial_accumulator_value=0.1,
      lamb_adapt="all", layer_decay=1.0))
  c.learning_rate = 0.1
  c.schedule = ml_collections.ConfigDict(dict(
      name="cosine", warmup_epochs=0.0, min_lr=0.0, boundaries_epochs=(30, 60, 80), decay_factor=0.1))
  c.weight_decay = 0.0                           # see optim.decay_mask: not biases, norm params, position tables
  c.l1 = 0.0                                     # L1 regularisation l1 * sum |w|, on the weight decay's params
  c.grad_clip_norm = 0.0                         # 0 = off
  c.ema_decay = 0.0                              # 0 = off; evaluation uses the EMA (params and BN statistics)
  # Scheduled arguments: keyword arguments of the model's __call__ that follow a schedule (train/scheduled_args.py), e.g.
  # {'act_lambda': {'kind': 'deep_training', 'decay_epochs': 100, 'shape': 'linear', 'per_step': False}}.
  c.scheduled_args = ml_collections.ConfigDict()
  # Logs and checkpoints: every N epochs of this run (may be fractional) or every N steps; set one, the other 0.
  # A train line is also written at every epoch end; 0 and 0 checkpoints at every epoch end (always at the end).
  c.log_every_epochs = 0.0
  c.log_every_steps = 50
  c.checkpoint_every_epochs = 0.0
  c.checkpoint_every_steps = 500
  c.keep_checkpoints = 2
  c.export_deploy = False                        # save + evaluate archs' deploy form at the end (VanillaNet)
  return c


def check_preset(arg, accepted) -> None:
  """A config's argument (`configs/x.py:arg`) must be one of its presets."""
  if arg not in accepted:
    raise errors.unknown("config preset", arg, [a for a in accepted if a is not None] + ["(none)"])


def load_config(name: str, arg=None) -> ml_collections.ConfigDict:
  """The config of `name` and its preset `arg`, as `--config name.py:arg` loads it (notebooks, tests).

  `name` is a config file's path, or the name of one in this repository's configs/ (e.g. 'lenet5').
  """
  path = name if name.endswith(".py") else os.path.join(CONFIGS_DIR, f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"config_{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def locked(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  c.lock()
  return c


def check_keys(config, reference=None, path="") -> None:
  """Every key of `config` exists in the base config (the contents of model_kwargs, task_kwargs and scheduled_args are free)."""
  reference = base_config() if reference is None else reference
  for key in config.keys():
    if key not in reference:
      raise errors.unknown("config key", f"{path}{key}", [f"{path}{k}" for k in reference.keys()])
    if isinstance(reference[key], ml_collections.ConfigDict) and f"{path}{key}" not in ("model_kwargs", "task_kwargs", "scheduled_args"):
      check_keys(config[key], reference[key], f"{path}{key}.")
