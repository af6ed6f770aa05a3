"""Multiply-accumulates of a model's forward pass, counted from its jaxpr (tests' helper, no compute)."""
import math

import jax
import jax.numpy as jnp

import archs


def jaxpr_macs(jaxpr) -> int:
  """Multiply-accumulates of the convolutions and matrix products of a jaxpr (nested ones included)."""
  total = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      rhs, out = eqn.invars[1].aval.shape, eqn.outvars[0].aval.shape
      out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
      total += math.prod(out) * math.prod(rhs) // out_features  # each output: kh kw (C_in / groups) MACs
    elif eqn.primitive.name == "dot_general":
      (contract, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      total += math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in contract)
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          total += jaxpr_macs(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          total += jaxpr_macs(sub)
  return total


def macs(name, size=224, **overrides):
  """MACs of the registered model `name` (with `overrides`) on one size x size RGB image, in eval mode."""
  model = archs.create_model(name, **overrides)
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  return jaxpr_macs(jax.make_jaxpr(lambda v, x: model.apply(v, x))(variables, x).jaxpr)
