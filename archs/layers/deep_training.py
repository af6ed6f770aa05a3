"""VanillaNet's deep training (Chen et al. 2023, section 3.2) for any network's activations.

A'(x) = (1 - lam) A(x) + lam x: lam = 0 is the network's own activation A, lam = 1 the identity, where the layers
around A become one linear map that can be merged. The trainer schedules lam from 0 to 1 as the scheduled
keyword argument `act_lambda` (train/scheduled_args.py, kind 'deep_training'), as it does for VanillaNet.
For A = ReLU this is leaky_relu(x, lam), VanillaNet's own form.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp


def deep_trained(act: Callable, act_lambda) -> Callable:
  """A blended with the identity by `act_lambda` (a float or a traced scalar); None leaves A unchanged."""
  if act_lambda is None:
    return act

  def blended(x):
    lam = jnp.asarray(act_lambda, x.dtype)  # cast so bf16 stays bf16
    return (1 - lam) * act(x) + lam * x
  return blended
