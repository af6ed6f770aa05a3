"""The perceptron (Rosenblatt 1958): a linear threshold unit, y_hat = 1 if x w + b > 0 else 0.

`apply(variables, x (B, ...))` -> the score x w + b (B,) float32 (the threshold is the caller's: score > 0).
Weights start at zero, as in Rosenblatt's procedure (the rule does not need a random start: a misclassified
example moves w whatever its value). The learning rule, for a label t in {0, 1} mapped to s = 2t - 1,
  w <- w + lr * s * x,  b <- b + lr * s   whenever s (x w + b) <= 0,
is gradient descent on the perceptron criterion max(0, -s (x w + b)) (Duda & Hart): train/tasks/regression.py's
regression task, kind "perceptron", with plain SGD (configs/regression.py:perceptron); batch size 1 is the rule
exactly, a batch averages the updates of its misclassified examples.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from archs.registry import register_model


class Perceptron(nn.Module):
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = x.reshape(x.shape[0], -1)
    return nn.Dense(1, dtype=self.dtype, kernel_init=nn.initializers.zeros, name="linear")(x)[:, 0].astype(
        jnp.float32)


def perceptron_criterion(score, label):
  """max(0, -s score), s = 2 label - 1: zero on correct examples, the rule's update as its gradient. Written as a
  `where` on s score <= 0 so that a score of exactly 0 (the zero start) counts as a mistake with the full update,
  as in the rule (jnp.maximum would split the gradient of the tie in half)."""
  sign = 2.0 * label.astype(jnp.float32) - 1.0
  return jnp.where(sign * score <= 0, -sign * score, 0.0)


register_model(Perceptron, name="perceptron")
