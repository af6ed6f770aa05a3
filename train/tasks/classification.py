"""Image classification: images -> class labels, with label smoothing and auxiliary heads (GoogLeNet)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from archs import losses
from train import data, errors, mixing
from train.tasks.base import Task


class ClassificationTask(Task):
  """Images -> class labels. Batches: {'image': (B, H, W, C) float, 'label': (B,) int [, 'mask': (B,)]}.

  Loss: cross-entropy with label smoothing, plus aux_loss_weight x CE of every logits array the model sows
  into 'aux_logits' in train mode (GoogLeNet's auxiliary classifiers). `loss='bce'` trains with binary
  cross-entropy per class on the (smoothed, mixed) one-hot targets, averaged over examples and classes (timm's
  BinaryCrossEntropy, VanillaNet's --bce_loss); evaluation keeps the softmax cross-entropy as its loss metric.
  Metrics: loss, accuracy (top-1).
  """
  name = "classification"
  LOSSES = ("cross_entropy", "bce")

  def __init__(self, label_smoothing: float = 0.0, aux_loss_weight: float = 0.3, mix=None,
               loss: str = "cross_entropy"):
    errors.check_name("loss", loss, self.LOSSES)
    self.label_smoothing = label_smoothing
    self.aux_loss_weight = aux_loss_weight
    self.mix = mix  # train/mixing.py: mixup/cutmix of the batch on the device, soft targets
    self.loss = loss

  @classmethod
  def from_config(cls, config):
    return cls(config.label_smoothing, config.aux_loss_weight, mixing.Mixing.from_config(config), config.loss)

  def datasets(self, config):
    return data.image_classification(config)

  def model_overrides(self, config, info):
    self.num_classes = info["num_classes"]  # the width of mixup's soft targets
    return {"num_classes": info["num_classes"]}

  def init_inputs(self, batch):
    return (batch["image"],)

  def loss_fn(self, model, variables, batch, rngs, train, scheduled_args):
    rngs = dict(rngs)
    mix_key, images = rngs.pop("mix", None), batch["image"]
    targets = None  # soft targets (B, C) when training mixes or trains with BCE
    if self.mix is not None and train:
      images, targets = self.mix(mix_key, images, batch["label"], self.num_classes, self.label_smoothing)
    elif train and self.loss == "bce":
      targets = mixing.smooth_one_hot(batch["label"], self.num_classes, self.label_smoothing)
    if targets is None:
      ce_fn = lambda logits: losses.softmax_cross_entropy(logits, batch["label"], self.label_smoothing)
    elif self.loss == "bce":
      ce_fn = lambda logits: binary_cross_entropy(logits, targets)
    else:
      ce_fn = lambda logits: mixing.soft_cross_entropy(logits, targets)
    logits, new_state = model.apply(variables, images, train=train, rngs=rngs,
                                    mutable=["batch_stats", "aux_logits"], **scheduled_args)
    new_state = dict(new_state)
    aux_logits = jax.tree.leaves(new_state.pop("aux_logits", {}))
    ce = ce_fn(logits).mean()
    aux = [ce_fn(a).mean() for a in aux_logits]
    loss = ce + self.aux_loss_weight * sum(aux)
    n = jnp.float32(logits.shape[0])
    correct = jnp.sum(jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    metrics = {"loss": (loss * n, n), "accuracy": (correct, n)}
    return loss, (metrics, new_state)

  def eval_metrics(self, model, variables, batch, scheduled_args):
    logits = model.apply(variables, batch["image"], train=False, **scheduled_args)
    mask = batch["mask"].astype(jnp.float32)
    ce = losses.softmax_cross_entropy(logits, batch["label"], self.label_smoothing)
    correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    n = mask.sum()
    return {"loss": ((ce * mask).sum(), n), "accuracy": ((correct * mask).sum(), n)}


def binary_cross_entropy(logits, targets):
  """Per example: the mean over classes of the sigmoid BCE of soft targets (B, C) (so the batch mean is torch's
  binary_cross_entropy_with_logits with reduction 'mean')."""
  return jnp.mean(losses.binary_cross_entropy_with_logits(logits.astype(jnp.float32), targets), axis=-1)
