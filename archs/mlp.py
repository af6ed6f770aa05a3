"""The multilayer perceptron and the three regressions (linear, logistic, softmax).

Inputs are (B, ...) float; every axis after the batch axis is flattened, so images work too.
Contract: `model.apply(variables, x, train=False)`; dropout draws from the 'dropout' RNG stream.
- MLP: (B, num_classes) logits (a classifier: the trainer's classification task sets num_classes).
- LinearRegression: (B, num_outputs).
- LogisticRegression: (B,) one logit per example (loss: losses.binary_cross_entropy_with_logits).
- SoftmaxRegression: (B, num_classes) logits (loss: losses.softmax_cross_entropy).
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from archs.layers.activations import get_activation
from archs.layers.initializers import kernel_init as init_from_spec
from archs.layers.norms import make_norm
from archs.registry import register_model


def _flatten(x):
  return x.reshape(x.shape[0], -1)


class MLP(nn.Module):
  """Dense [-> norm] -> activation -> dropout for each hidden size, then a linear output layer.

  `kernel_init`: every Dense kernel's init by name (archs/layers/initializers.kernel_init; default flax's
  lecun_normal); `norm`: None, or 'batch', 'layer' or 'group' between each hidden Dense and its activation
  (archs/layers/norms.py; 'instance' has one scalar per channel here and is refused).
  """
  hidden_sizes: Sequence[int] = (128,)
  num_classes: int = 10
  activation: str = "relu"
  dropout_rate: float = 0.0
  kernel_init: Any = None
  norm: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    act = get_activation(self.activation)
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(f"dropout_rate={self.dropout_rate!r}; accepted: 0 <= dropout_rate < 1")
    if self.norm == "instance":
      raise ValueError("MLP norm 'instance' normalises each scalar alone; accepted: None, batch, layer, group")
    init = init_from_spec(self.kernel_init)
    dense = functools.partial(nn.Dense, dtype=self.dtype, **({"kernel_init": init} if init else {}))
    norm = make_norm(self.norm, train, self.dtype) if self.norm is not None else None
    x = _flatten(x).astype(self.dtype)
    for i, width in enumerate(self.hidden_sizes):
      x = dense(width, name=f"hidden_{i}")(x)
      x = act(norm(name=f"norm_{i}")(x) if norm else x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = dense(self.num_classes, name="head")(x).astype(jnp.float32)
    if return_features:
      return {"logits": logits, "pre_logits": x}
    return logits


class LinearRegression(nn.Module):
  """y = x W + b."""
  num_outputs: int = 1
  dtype: Any = jnp.float32  # compute dtype, as every model (the trainer always passes it)

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    return nn.Dense(self.num_outputs, dtype=self.dtype, name="linear")(_flatten(x)).astype(jnp.float32)


class LogisticRegression(nn.Module):
  """One logit z = x w + b per example; P(y = 1 | x) = sigmoid(z)."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    return nn.Dense(1, dtype=self.dtype, name="linear")(_flatten(x))[:, 0].astype(jnp.float32)


class SoftmaxRegression(nn.Module):
  """Logits x W + b over `num_classes`; P(y | x) = softmax."""
  num_classes: int = 10
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    return nn.Dense(self.num_classes, dtype=self.dtype, name="linear")(_flatten(x)).astype(jnp.float32)


register_model(functools.partial(MLP, hidden_sizes=(32,), num_classes=10), name="mlp")
register_model(functools.partial(LinearRegression, num_outputs=1), name="linear_regression")
register_model(LogisticRegression, name="logistic_regression")
register_model(functools.partial(SoftmaxRegression, num_classes=10), name="softmax_regression")
