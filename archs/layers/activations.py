"""Every activation function of the literature covered here, as pure functions of arrays.

Modules exist only where the function has parameters (PReLU, learnable-beta Swish).
Gated units (GLU, SwiGLU, GEGLU) split their input in two halves along `axis`.
"""
from __future__ import annotations

import difflib
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def step(x):
  """Heaviside step of the perceptron: 1 where x > 0, else 0 (zero gradient everywhere)."""
  return jnp.where(x > 0, 1.0, 0.0).astype(x.dtype)


def sigmoid(x):
  return jax.nn.sigmoid(x)


def tanh(x):
  return jnp.tanh(x)


def relu(x):
  return jax.nn.relu(x)


def leaky_relu(x, negative_slope=0.01):
  """max(x, a x) for a < 1; VanillaNet calls it with a traced lambda as slope (== (1-l) ReLU(x) + l x)."""
  return jnp.where(x >= 0, x, negative_slope * x)


def softplus(x, beta=1.0):
  """log(1 + exp(beta x)) / beta, computed stably."""
  return jnp.logaddexp(beta * x, 0.0) / beta


def elu(x, alpha=1.0):
  return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0.0)))


def gelu(x, approximate: bool = False):
  """x Phi(x). Exact (erf) by default as in torch.nn.GELU; approximate=True is the tanh form."""
  return jax.nn.gelu(x, approximate=approximate)


def gelu_tanh(x):
  return jax.nn.gelu(x, approximate=True)


def swish(x, beta=1.0):
  """x sigmoid(beta x) (Ramachandran et al.); beta = 1 is SiLU."""
  return x * jax.nn.sigmoid(beta * x)


def silu(x):
  return jax.nn.silu(x)


def mish(x):
  """x tanh(softplus(x)) (Misra 2019)."""
  return x * jnp.tanh(softplus(x))


def _halves(x, axis):
  a, b = jnp.split(x, 2, axis=axis)
  return a, b


def glu(x, axis: int = -1):
  """GLU(a, b) = a * sigmoid(b) (Dauphin et al. 2017), a and b the halves of x."""
  a, b = _halves(x, axis)
  return a * jax.nn.sigmoid(b)


def swiglu(x, axis: int = -1):
  """SwiGLU(a, b) = SiLU(a) * b (Shazeer 2020)."""
  a, b = _halves(x, axis)
  return jax.nn.silu(a) * b


def geglu(x, axis: int = -1, approximate: bool = False):
  """GEGLU(a, b) = GELU(a) * b (Shazeer 2020)."""
  a, b = _halves(x, axis)
  return jax.nn.gelu(a, approximate=approximate) * b


def identity(x):
  return x


class PReLU(nn.Module):
  """Leaky ReLU with a learned slope, one per channel (last axis) or shared (He et al. 2015)."""
  channelwise: bool = True
  init_slope: float = 0.25

  @nn.compact
  def __call__(self, x):
    shape = (x.shape[-1],) if self.channelwise else ()
    slope = self.param("slope", nn.initializers.constant(self.init_slope), shape, jnp.float32)
    return jnp.where(x >= 0, x, slope.astype(x.dtype) * x)


class Swish(nn.Module):
  """x sigmoid(beta x) with a learned beta (Ramachandran et al. 2017)."""
  init_beta: float = 1.0

  @nn.compact
  def __call__(self, x):
    beta = self.param("beta", nn.initializers.constant(self.init_beta), (), jnp.float32)
    return swish(x, beta.astype(x.dtype))


ACTIVATIONS: dict[str, Callable] = {
    "step": step, "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu,
    "softplus": softplus, "elu": elu, "gelu": gelu, "gelu_tanh": gelu_tanh, "silu": silu,
    "swish": swish, "mish": mish, "glu": glu, "swiglu": swiglu, "geglu": geglu, "identity": identity,
}


def get_activation(name: str) -> Callable:
  """The activation called `name` (see ACTIVATIONS)."""
  if name not in ACTIVATIONS:
    close = difflib.get_close_matches(name, ACTIVATIONS, n=3)
    raise ValueError(f"unknown activation {name!r}; accepted: {', '.join(ACTIVATIONS)}"
                     + (f" (closest: {', '.join(close)})" if close else ""))
  return ACTIVATIONS[name]
