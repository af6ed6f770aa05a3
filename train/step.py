"""The train state and the pmap'd steps, the same for every model and task.

One replicated copy of the state goes in with in_axes=None and comes out with out_axes=None (no
replicate/unreplicate; the checkpoint holds one copy). Batches are (devices, K, per_device_batch, ...): inside,
`lax.scan` runs K train steps with the scheduled hyperparameters (arrays of shape (K,)) as scanned values.
Gradients, BatchNorm statistics and metrics are averaged/summed over the "batch" axis, so every device applies
the same update: 1 device == N devices for the same global batch, up to float rounding. BatchNorm normalizes
with per-device batch statistics in the forward pass (Flax ImageNet / PyTorch DDP semantics, not SyncBN) and
the running averages are pmean'd. Once-per-batch random draws (the 'batch_dropout' stream) use one key on every
device, so they do not depend on the device count either.
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from archs.layers.stochastic_depth import BATCH_RNG
from train import optim

AXIS = "batch"


@flax.struct.dataclass
class TrainState:
  step: jax.Array         # int32 scalar: train steps done
  params: Any
  model_state: Any        # mutable collections other than params (batch_stats), {} if none
  opt_state: Any
  ema: Any                # moving average of {'params', **model_state} (BN statistics too, as timm), or None
  rng: jax.Array          # base key; step and device keys are folded in

  def eval_variables(self):
    """Variables for evaluation: the EMA ones when the run keeps them."""
    return self.ema if self.ema is not None else {"params": self.params, **self.model_state}


def make_train_step(task, model, tx: optax.GradientTransformation, ema_decay: float = 0.0, devices=None):
  """pmap'd `(state, batches, scheduled_args) -> (state, metrics)`; metrics are {name: (sum, count)} of shape (K,)."""

  def train_step(state: TrainState, xs):
    batch, scheduled_args = xs
    # Pure functions of (seed, step[, device]): a resumed run draws the same masks. Per-example draws (dropout,
    # drop-path) differ across devices; once-per-batch draws (which blocks or columns drop) are one draw for the
    # global batch, so the run does not depend on the device count.
    batch_key = jax.random.fold_in(state.rng, state.step)
    # "mix": mixup/cutmix draw the same lam on every device (train/mixing.py), from the same key.
    rngs = {"dropout": jax.random.fold_in(batch_key, lax.axis_index(AXIS)), BATCH_RNG: batch_key, "mix": batch_key}

    def loss_fn(params):
      variables = {"params": params, **state.model_state}
      return task.loss_fn(model, variables, batch, rngs, True, scheduled_args)

    (_, (metrics, new_model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grads = lax.pmean(grads, AXIS)
    new_model_state = lax.pmean(new_model_state, AXIS)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema
    if ema is not None:
      ema = optim.ema_update(ema, {"params": params, **new_model_state}, ema_decay)
    new_state = state.replace(step=state.step + 1, params=params, model_state=new_model_state,
                              opt_state=opt_state, ema=ema)
    return new_state, lax.psum(metrics, AXIS)

  def multi_step(state, batches, scheduled_args):
    if jax.tree.leaves(batches)[0].shape[0] == 1:
      # K = 1 without a loop: XLA:CPU runs convolutions in a loop body ~20x slower (hyper_resnet40_1 at 16x16).
      state, metrics = train_step(state, jax.tree.map(lambda x: x[0], (batches, scheduled_args)))
      return state, jax.tree.map(lambda x: jnp.asarray(x)[None], metrics)  # as scan stacks (Python counts too)
    return lax.scan(train_step, state, (batches, scheduled_args))

  p_multi = jax.pmap(multi_step, axis_name=AXIS, in_axes=(None, 0, None), out_axes=(None, 0),
                     donate_argnums=0, devices=devices)
  return _one_step_per_call_where_loops_hurt(p_multi, multi_step, devices)


# Backends whose convolutions run much slower in a loop body: XLA:CPU's convolution canonicalization does not
# reach while-loop bodies, so a scanned conv (and its weight gradient) takes a generic slow path (lenet5: 2,285
# img/s at K = 1, 713 img/s scanned with K = 11; 4,976 img/s unrolled, at 5x the compile time).
LOOPS_HURT_CONVOLUTIONS = ("cpu",)


def _one_step_per_call_where_loops_hurt(p_multi, multi_step, devices):
  """The pmap'd step, except on a backend of LOOPS_HURT_CONVOLUTIONS with a model that convolves: there, a call
  of K steps runs as K device calls of one step each (no loop), with the same results and metrics of shape (.., K).
  So steps_per_call is a setting of the accelerator (K steps scanned in one call), never a CPU workaround."""
  per_step = {}

  def train(state, batches, scheduled_args):
    k = jax.tree.leaves(batches)[0].shape[1]
    platform = (devices[0] if devices else jax.local_devices()[0]).platform
    if k == 1 or platform not in LOOPS_HURT_CONVOLUTIONS:
      return p_multi(state, batches, scheduled_args)
    if "convolves" not in per_step:  # traced once, on one step's shapes: does the step contain a convolution?
      one = lambda tree, axis: jax.tree.map(lambda x: x[(slice(None),) * axis + (slice(0, 1),)], tree)
      jaxpr = jax.make_jaxpr(multi_step, axis_env=[(AXIS, 1)])(state, one(jax.tree.map(lambda x: x[0], batches), 0),
                                                                one(scheduled_args, 0))
      per_step["convolves"] = "conv_general_dilated" in str(jaxpr)
    if not per_step["convolves"]:
      return p_multi(state, batches, scheduled_args)
    metrics = []
    for i in range(k):
      step_i = lambda tree, axis: jax.tree.map(lambda x: x[(slice(None),) * axis + (slice(i, i + 1),)], tree)
      state, m = p_multi(state, step_i(batches, 1), step_i(scheduled_args, 0))
      metrics.append(m)
    return state, jax.tree.map(lambda *ms: jnp.concatenate(ms, axis=1), *metrics)

  train.convolves = lambda: per_step.get("convolves")  # for tests: None until a K > 1 call on such a backend
  return train


def make_eval_step(task, model, devices=None):
  """pmap'd `(variables, batch, scheduled_args) -> metrics` summed over devices (padding has mask 0)."""

  def eval_step(variables, batch, scheduled_args):
    return lax.psum(task.eval_metrics(model, variables, batch, scheduled_args), AXIS)

  return jax.pmap(eval_step, axis_name=AXIS, in_axes=(None, 0, None), out_axes=None, devices=devices)


def init_state(task, model, tx, example_batch, scheduled_args, seed: int, ema: bool) -> TrainState:
  """Initial state on the host; `example_batch` holds one example (shapes only matter)."""
  params_key, dropout_key, step_key = jax.random.split(jax.random.PRNGKey(seed), 3)

  @jax.jit
  def init():
    variables = model.init({"params": params_key, "dropout": dropout_key}, *task.init_inputs(example_batch),
                           train=True, **scheduled_args)  # train=True creates train-only heads (aux classifiers)
    variables = {k: v for k, v in variables.items() if k not in ("aux_logits", "intermediates")}
    params = variables.pop("params")
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state=variables,
                      opt_state=tx.init(params), ema={"params": params, **variables} if ema else None, rng=step_key)
  return init()


def pmap_devices(num_local: int = 0) -> tuple:
  """The first `num_local` (0 = all) local devices of every process, in process order: pmap's `devices`.

  pmap wants the same list on every process, holding each process's share of the mapped axis.
  """
  return tuple(d for p in range(jax.process_count())
               for d in jax.local_devices(process_index=p)[:num_local or jax.local_device_count()])


def replicate(tree, devices=None):
  """Places one copy of `tree` on every local device of `devices` (None: all local devices) as the pmap'd step
  returns it (NamedSharding over those devices, P()).

  pmap takes and returns per-process values on this process's devices, so the mesh holds local devices only.
  Without this, the first call (host/single-device input) and the second (replicated input) compile twice.
  """
  local = [d for d in devices if d.process_index == jax.process_index()] if devices else jax.local_devices()
  return jax.device_put(tree, NamedSharding(Mesh(np.array(local), (AXIS,)), PartitionSpec()))


def abstract_state(task, model, tx, example_batch, scheduled_args, seed: int, ema: bool):
  """Shapes and dtypes of the state, without allocating (jax.eval_shape)."""
  return jax.eval_shape(lambda: init_state(task, model, tx, example_batch, scheduled_args, seed, ema))
