"""Mixup and cutmix on the device, inside the train step (timm's Mixup in 'batch' mode; the code is ours).

Per step, one draw for the whole batch: with probability `prob` the batch is mixed, by cutmix with probability
`switch_prob` when both are on (else by mixup), with lam ~ Beta(alpha, alpha) of the chosen method. Each example is
mixed with the example at the mirrored position of its device batch (timm: `x.flip(0)` of the local batch).
Cutmix pastes a box of area fraction about 1 - lam (centre uniform, clipped at the borders) and then sets lam to
1 - (box area / image area), so labels weigh what the image shows. Targets: label-smoothed one-hots (off value
smoothing / C, on value 1 - smoothing + off), mixed lam : 1 - lam; they sum to one.

The key is the step's key without the device index, so lam, the method and the box are the same on every device
and for any number of devices.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from train import errors


@dataclasses.dataclass(frozen=True)
class Mixing:
  mixup: float = 0.0        # Beta alpha of mixup (0 = off)
  cutmix: float = 0.0       # Beta alpha of cutmix (0 = off)
  prob: float = 1.0         # chance that a batch is mixed at all
  switch_prob: float = 0.5  # with both on: chance of cutmix rather than mixup

  @classmethod
  def from_config(cls, config):
    """config.aug's mixing when training augmentation is on; None when nothing mixes."""
    a = config.aug
    for name in ("mixup", "cutmix"):
      if a[name] < 0:
        raise errors.UserError(f"aug.{name}={a[name]}; accepted: 0 (off) or a Beta alpha > 0")
    for name in ("mix_prob", "switch_prob"):
      if not 0 <= a[name] <= 1:
        raise errors.UserError(f"aug.{name}={a[name]}; accepted: 0 <= {name} <= 1")
    if not config.augment or (a.mixup == 0 and a.cutmix == 0) or a.mix_prob == 0:
      return None
    return cls(float(a.mixup), float(a.cutmix), float(a.mix_prob), float(a.switch_prob))

  def params(self, key, height: int, width: int):
    """(lam, box mask (H, W) of the pasted region or None for mixup-only) of one step."""
    k_mix, k_switch, k_mixup, k_cutmix, k_y, k_x = jax.random.split(key, 6)
    mixed = jax.random.uniform(k_mix) < self.prob
    if self.cutmix > 0 and self.mixup > 0:
      use_cutmix = jax.random.uniform(k_switch) < self.switch_prob
    else:
      use_cutmix = jnp.asarray(self.cutmix > 0)
    lam_mixup = jax.random.beta(k_mixup, self.mixup, self.mixup) if self.mixup > 0 else jnp.float32(1)
    lam_cutmix = jax.random.beta(k_cutmix, self.cutmix, self.cutmix) if self.cutmix > 0 else jnp.float32(1)
    # the box: sides (H, W) * sqrt(1 - lam), centre uniform over the image, clipped at the borders
    cut = jnp.sqrt(1.0 - lam_cutmix)
    cut_h, cut_w = (height * cut).astype(jnp.int32), (width * cut).astype(jnp.int32)
    cy, cx = jax.random.randint(k_y, (), 0, height), jax.random.randint(k_x, (), 0, width)
    rows, cols = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
    box = ((rows >= jnp.clip(cy - cut_h // 2, 0, height)) & (rows < jnp.clip(cy + cut_h // 2, 0, height)) &
           (cols >= jnp.clip(cx - cut_w // 2, 0, width)) & (cols < jnp.clip(cx + cut_w // 2, 0, width)))
    box = box & use_cutmix & mixed
    lam = jnp.where(use_cutmix, 1.0 - box.mean(), lam_mixup)  # cutmix: lam corrected by the box's area
    lam = jnp.where(mixed, lam, 1.0).astype(jnp.float32)
    return lam, box, use_cutmix & mixed

  def __call__(self, key, images, labels, num_classes: int, label_smoothing: float = 0.0):
    """(mixed images, soft targets (B, C)) of a device batch of images (B, H, W, C) and integer labels (B,)."""
    lam, box, cutmix = self.params(key, images.shape[1], images.shape[2])
    partner = images[::-1]
    blended = lam.astype(images.dtype) * images + (1 - lam).astype(images.dtype) * partner
    pasted = jnp.where(box[None, :, :, None], partner, images)
    images = jnp.where(cutmix, pasted, blended)
    targets = smooth_one_hot(labels, num_classes, label_smoothing)
    return images, lam * targets + (1.0 - lam) * targets[::-1]


def smooth_one_hot(labels, num_classes: int, smoothing: float = 0.0):
  off = smoothing / num_classes
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * (1.0 - smoothing) + off


def soft_cross_entropy(logits, targets):
  """Cross-entropy of soft targets (B, C) (timm's SoftTargetCrossEntropy), per example."""
  return -jnp.sum(targets * jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), axis=-1)
