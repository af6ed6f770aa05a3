"""An activation projected back to pixel space: the deconvnet (Zeiler & Fergus 2014) and guided backpropagation
(Springenberg et al. 2015), beside the plain gradient (Simonyan et al. 2014).

All three are backpropagation of one activation to the input; they differ only at the ReLUs, where the backward
signal g meets the forward input x:
- gradient:  g * [x > 0]
- deconvnet: relu(g)               (the reconstruction is rectified; the forward sign is ignored)
- guided:    g * [x > 0] * [g > 0] (both: only positive evidence that the forward pass let through)
Every other layer keeps its transpose, which is the deconvnet's: a convolution backpropagates through its
transposed filters, a max pool sends the signal to the position that won the forward max (the "switches" of
rectified unpooling), batch norm in eval mode through its per-channel scale.

The ReLUs are found in the model's traced program (`jax.make_jaxpr`): every call of `jax.nn.relu` (also through
`flax.linen.relu` and `archs.layers.activations.relu`), at any depth of jit-ed and custom-derivative functions, is
replaced by a ReLU with the chosen backward rule (`jax.custom_vjp`). A bare `jnp.maximum(x, 0)` is not a ReLU here
(LayerNorm clamps its variance that way), nor is leaky_relu, and ReLUs inside loops (scan, while) keep the plain
rule: `count_relus` says how many were replaced (0 for LeNet-5's tanh: then every rule is the gradient).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core

from archs.analysis.features import _logits, feature_map


@jax.custom_vjp
def guided_relu(x):
  return jnp.maximum(x, 0)


guided_relu.defvjp(lambda x: (jnp.maximum(x, 0), x),
                   lambda x, g: (jnp.where((x > 0) & (g > 0), g, jnp.zeros_like(g)),))


@jax.custom_vjp
def deconvnet_relu(x):
  return jnp.maximum(x, 0)


deconvnet_relu.defvjp(lambda x: (jnp.maximum(x, 0), None), lambda _, g: (jnp.maximum(g, 0),))

RULES = {"gradient": jax.nn.relu, "deconvnet": deconvnet_relu, "guided": guided_relu}


def _is_relu(eqn) -> bool:
  return eqn.primitive.name in ("jit", "pjit") and eqn.params.get("name") == "relu"


def _inner(eqn):
  """The ClosedJaxpr of a call-like equation (jit, custom_jvp_call), else None."""
  inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
  return inner if isinstance(inner, core.ClosedJaxpr) else None


def _relus_in(jaxpr) -> int:
  count = 0
  for eqn in jaxpr.eqns:
    if _is_relu(eqn):
      count += 1
    elif eqn.primitive.name in ("jit", "pjit", "custom_jvp_call") and _inner(eqn) is not None:
      count += _relus_in(_inner(eqn).jaxpr)
  return count


def _evaluate(jaxpr, consts, args, relu):
  """jax.core.eval_jaxpr, with each ReLU call replaced by `relu`; a call that holds no ReLU is bound unchanged
  (a custom derivative such as softmax's is kept)."""
  env = {}
  read = lambda v: v.val if isinstance(v, core.Literal) else env[v]
  env.update(zip(jaxpr.constvars, consts))
  env.update(zip(jaxpr.invars, args))
  for eqn in jaxpr.eqns:
    invals = [read(v) for v in eqn.invars]
    inner = _inner(eqn)
    if _is_relu(eqn):
      outs = [relu(invals[0])]
    elif inner is not None and eqn.primitive.name in ("jit", "pjit", "custom_jvp_call") and _relus_in(inner.jaxpr):
      outs = _evaluate(inner.jaxpr, inner.consts, invals, relu)
    else:
      with eqn.ctx.manager:
        outs = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
      outs = outs if eqn.primitive.multiple_results else [outs]
    env.update(zip(eqn.outvars, outs))
  return [read(v) for v in jaxpr.outvars]


def with_relu_rule(fn: Callable, rule: str) -> Callable:
  """fn with the backward rule of its ReLUs replaced (forward values unchanged); rule in RULES."""
  if rule not in RULES:
    raise ValueError(f"unknown rule {rule!r}; accepted: {', '.join(RULES)}")

  def replaced(*args):
    closed, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
    outs = _evaluate(closed.jaxpr, closed.consts, jax.tree.leaves(args), RULES[rule])
    return jax.tree.unflatten(jax.tree.structure(shapes), outs)
  return replaced


def count_relus(fn: Callable, *args) -> int:
  """How many ReLU calls `with_relu_rule` replaces in fn(*args)."""
  return _relus_in(jax.make_jaxpr(fn)(*args).jaxpr)


def _target_fn(model, variables, layer, kwargs):
  if layer is None:
    return lambda x: _logits(model.apply(variables, x, train=False, **kwargs))
  return lambda x: feature_map(model, variables, x, layer, **kwargs)


def project(model, variables, x, layer: str | None = None, rule: str = "guided", channel=None, **kwargs):
  """(projections shaped like x, targets): one activation per image backpropagated to the pixels by `rule`.

  `layer` names a module (a path of `features.layer_shapes`); its output is read as (B, positions, channels)
  (a feature map's positions are its pixels). The projected activation of image b is, as Zeiler & Fergus do, the
  strongest one of its channel: `channel` (an int or one per image) or, by default, the channel with the largest
  activation in that image. `layer=None` projects the logit of `channel` (default: the predicted class), guided
  backpropagation's class visualisation. The backward pass starts from 1 at that activation and 0 elsewhere.
  targets: {'channel': (B,), 'position': (B,) flat index into the positions, 'value': (B,) the activation}.
  Images are independent (eval mode), so one backward pass projects them all.
  """
  fn = _target_fn(model, variables, layer, kwargs)
  num_channels = jax.eval_shape(fn, x).shape[-1]
  if channel is not None and not np.all((np.asarray(channel) >= 0) & (np.asarray(channel) < num_channels)):
    raise ValueError(f"channel {np.asarray(channel).tolist()}; accepted: 0..{num_channels - 1}")

  @jax.jit
  def run(x, channel):
    out, backward = jax.vjp(with_relu_rule(fn, rule), x)
    flat = out.reshape(out.shape[0], -1, out.shape[-1])
    if channel is None:
      channel = jnp.argmax(flat.max(axis=1), axis=-1)
    channel = jnp.broadcast_to(channel, (flat.shape[0],))
    rows = jnp.arange(flat.shape[0])
    position = jnp.argmax(flat[rows, :, channel], axis=1)
    seed = jnp.zeros_like(flat).at[rows, position, channel].set(1).reshape(out.shape)
    (projections,) = backward(seed)
    return projections, {"channel": channel, "position": position, "value": flat[rows, position, channel]}
  projections, targets = run(x, None if channel is None else jnp.asarray(channel))
  return np.asarray(projections), {k: np.asarray(v) for k, v in targets.items()}
