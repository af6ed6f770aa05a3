"""Image classification: images -> class labels, with label smoothing and auxiliary heads (GoogLeNet)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from archs import losses
from train import data, mixing
from train.tasks.base import Task


class ClassificationTask(Task):
  """Images -> class labels. Batches: {'image': (B, H, W, C) float, 'label': (B,) int [, 'mask': (B,)]}.

  Loss: cross-entropy with label smoothing, plus aux_loss_weight x CE of every logits array the model sows
  into 'aux_logits' in train mode (GoogLeNet's auxiliary classifiers). Metrics: loss, accuracy (top-1).
  """
  name = "classification"

  def __init__(self, label_smoothing: float = 0.0, aux_loss_weight: float = 0.3, mix=None):
    self.label_smoothing = label_smoothing
    self.aux_loss_weight = aux_loss_weight
    self.mix = mix  # train/mixing.py: mixup/cutmix of the batch on the device, soft targets

  @classmethod
  def from_config(cls, config):
    return cls(config.label_smoothing, config.aux_loss_weight, mixing.Mixing.from_config(config))

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
    if self.mix is not None and train:
      images, targets = self.mix(mix_key, images, batch["label"], self.num_classes, self.label_smoothing)
      ce_fn = lambda logits: mixing.soft_cross_entropy(logits, targets)
    else:
      ce_fn = lambda logits: losses.softmax_cross_entropy(logits, batch["label"], self.label_smoothing)
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
