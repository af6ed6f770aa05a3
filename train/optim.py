"""Optimizers, learning-rate schedules, the weight-decay mask and layer-wise lr decay, chosen by name from the config."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from train import errors

SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "inverse_sqrt")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lamb")
LAMB_ADAPT = ("all", "decayed")  # the trust ratio on every parameter (optax, You et al.) or the decayed (timm)


# Learned position tables, as timm's no_weight_decay() and big_vision: ViT's pos_embed and cls_token, Swin's
# relative position bias tables.
NO_DECAY_NAMES = ("pos_embed", "cls_token", "relative_position_bias_table")


def decay_mask(params):
  """True where weight decay (and L1) applies: every parameter of ndim > 1 (kernels, embeddings) except those named
  in NO_DECAY_NAMES; never biases or norm scales and shifts (ndim <= 1)."""
  def decays(path, p):
    return p.ndim > 1 and not any(getattr(k, "key", None) in NO_DECAY_NAMES for k in path)
  return jax.tree_util.tree_map_with_path(decays, params)


def add_l1(l1: float, mask=decay_mask) -> optax.GradientTransformation:
  """L1 regularisation l1 * sum |w| on the masked parameters: adds its subgradient l1 * sign(w) to the gradient
  (sign(0) = 0), as add_decayed_weights adds l2 * w."""
  def update(updates, state, params):
    if params is None:
      raise ValueError("add_l1 needs the params: call update(grads, state, params)")
    return jax.tree.map(lambda g, p: g + l1 * jnp.sign(p).astype(g.dtype), updates, params), state
  return optax.masked(optax.GradientTransformation(lambda params: optax.EmptyState(), update), mask)


def learning_rate_schedule(config, steps_per_epoch: int) -> optax.Schedule:
  """lr(step) for `config.schedule.name`; epochs in the config are converted to steps here."""
  s, base = config.schedule, config.learning_rate
  errors.check_name("schedule", s.name, SCHEDULES)
  total = max(1, config.num_epochs * steps_per_epoch)
  if s.name == "constant":
    return optax.constant_schedule(base)
  if s.name == "step":  # multiply by decay_factor at each boundary (torchvision's StepLR/MultiStepLR)
    return optax.piecewise_constant_schedule(
        base, {int(round(e * steps_per_epoch)): s.decay_factor for e in s.boundaries_epochs})
  if s.name == "cosine":  # alpha is the final fraction: ends at min_lr
    return optax.cosine_decay_schedule(base, total, alpha=s.min_lr / base if base else 0.0)
  warmup = int(round(s.warmup_epochs * steps_per_epoch))
  if s.name == "inverse_sqrt":
    return inverse_sqrt_schedule(base, max(warmup, 1))
  return optax.warmup_cosine_decay_schedule(0.0, base, warmup, max(total, warmup + 1), end_value=s.min_lr)


def inverse_sqrt_schedule(peak: float, warmup_steps: int) -> optax.Schedule:
  """Vaswani et al. 2017 Eq. 3, d_model^-0.5 min(n^-0.5, n warmup^-1.5) at step n = step + 1, written with its
  peak (reached at n = warmup): peak = (d_model warmup)^-0.5 is the paper's schedule (7.0e-4 for 512 and 4000)."""
  def schedule(step):
    n = jnp.asarray(step, jnp.float32) + 1.0
    return peak * jnp.sqrt(float(warmup_steps)) * jnp.minimum(n ** -0.5, n * float(warmup_steps) ** -1.5)
  return schedule


def make_optimizer(config, steps_per_epoch: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """The optax chain: clip by global norm -> (masked) L1 -> (masked) weight decay -> the optimizer at lr(step)
  [-> layer scale].

  L1 (`config.l1`) is added to the gradient for every optimizer (a loss term l1 sum |w|), weight decay is
  decoupled for adamw and lamb and added to the gradient otherwise; both use `decay_mask`.
  """
  o, wd = config.optimizer, config.weight_decay
  errors.check_name("optimizer", o.name, OPTIMIZERS)
  if not 0 < o.layer_decay <= 1:
    raise errors.UserError(f"optimizer.layer_decay={o.layer_decay}; accepted: 0 < layer_decay <= 1 (1 = off)")
  lr = learning_rate_schedule(config, steps_per_epoch)
  chain = []
  if config.grad_clip_norm > 0:
    chain.append(optax.clip_by_global_norm(config.grad_clip_norm))
  if config.get("l1", 0.0) > 0:
    chain.append(add_l1(config.l1))
  if o.name == "adamw":  # decoupled decay (Loshchilov & Hutter), scaled by lr inside optax
    chain.append(optax.adamw(lr, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=wd, mask=decay_mask))
  elif o.name == "lamb":
    errors.check_name("optimizer.lamb_adapt", o.lamb_adapt, LAMB_ADAPT)
    # optax.lamb's chain, with the trust ratio on every parameter (You et al.) or on the decayed ones (timm)
    trust = optax.scale_by_trust_ratio()
    chain.append(optax.chain(optax.scale_by_adam(b1=o.b1, b2=o.b2, eps=o.eps),
                             optax.add_decayed_weights(wd, decay_mask),
                             trust if o.lamb_adapt == "all" else optax.masked(trust, decay_mask),
                             optax.scale_by_learning_rate(lr)))
  else:
    # L2 added to the gradient before the update, as torch.optim.SGD(weight_decay=...) does.
    if wd > 0:
      chain.append(optax.add_decayed_weights(wd, mask=decay_mask))
    chain.append({
        "sgd": lambda: optax.sgd(lr),
        "momentum": lambda: optax.sgd(lr, momentum=o.momentum),
        "nesterov": lambda: optax.sgd(lr, momentum=o.momentum, nesterov=True),
        "adagrad": lambda: optax.adagrad(lr, initial_accumulator_value=o.initial_accumulator_value, eps=o.eps),
        "rmsprop": lambda: optax.rmsprop(lr, decay=o.decay, eps=o.eps, momentum=o.momentum or None),  # TF-style, with momentum
        "adam": lambda: optax.adam(lr, b1=o.b1, b2=o.b2, eps=o.eps),
    }[o.name]())
  if o.layer_decay != 1.0:
    chain.append(scale_by_layer(o.layer_decay))
  return optax.chain(*chain), lr


def layer_ids(params) -> tuple[dict, int]:
  """({top-level name: layer id}, number of stages) for networks named stem, stages_0 .. stages_{n-1}, head
  (VanillaNet): the stem is layer 0, stages_i layer i + 1, the head n + 1 (huawei-noah/VanillaNet optim_factory)."""
  names = set(params)
  stages = sorted(k for k in names if k.startswith("stages_"))
  if not stages or names - set(stages) - {"stem", "head"} or stages != [f"stages_{i}" for i in range(len(stages))]:
    raise errors.UserError(f"optimizer.layer_decay needs a network of stem, stages_0 .. stages_N, head "
                           f"(VanillaNet), got parameters {sorted(names)}; accepted: layer_decay 1.0 for other models")
  n = len(stages)
  return {"stem": 0, **{name: i + 1 for i, name in enumerate(stages)}, "head": n + 1}, n


def layer_scales(params, decay: float) -> dict:
  """Per top-level module, the factor on its learning rate: decay ** (n + 1 - layer id), 1 for the head (the
  authors' LayerDecayValueAssigner with layer_decay_num_layers = n, the number of stages, as their V6 and V7)."""
  ids, n = layer_ids(params)
  return {name: decay ** (n + 1 - i) for name, i in ids.items()}


def scale_by_layer(decay: float) -> optax.GradientTransformation:
  """Multiplies each update by its layer's scale (layer-wise lr decay; scales the lr and the decoupled decay)."""
  def update(updates, state, params=None):
    scales = layer_scales(updates, decay)
    return {k: jax.tree.map(lambda u, s=scales[k]: u * s, v) for k, v in updates.items()}, state
  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def ema_update(ema, params, decay):
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p.astype(jnp.float32), ema, params)
