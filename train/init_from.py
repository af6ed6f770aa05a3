"""`config.init_from`: start a run from a reference checkpoint (fine-tuning); resuming from the workdir wins."""
from __future__ import annotations

import jax
import numpy as np

import archs
from train import errors


def model_options(config) -> dict:
  """The model options the init_from checkpoint needs ({} without init_from); config.model_kwargs overrides them."""
  if not config.init_from:
    return {}
  try:
    return archs.weights.pretrained.layout_options(config.model, config.init_from)
  except (OSError, ValueError, ImportError) as e:
    raise errors.UserError(f"init_from={config.init_from!r}: {str(e).splitlines()[0]}") from None


def load(state, config, model_kwargs: dict, tx):
  """`state` with its params and model state from `config.init_from` (archs.load_pretrained), fresh optimizer.

  The classifier is re-initialised when the task's class count differs from the checkpoint's.
  """
  try:
    _, variables = archs.load_pretrained(config.model, config.init_from, seed=config.seed, **model_kwargs)
  except (OSError, ValueError, ImportError) as e:  # missing file, no network, no layout, keys that do not fit
    raise errors.UserError(f"init_from={config.init_from!r}: {str(e).splitlines()[0]}") from None
  params = variables.pop("params")
  expected = jax.tree.map(np.shape, (state.params, state.model_state))
  got = jax.tree.map(np.shape, (params, variables))
  if expected != got:
    raise errors.UserError(f"init_from={config.init_from!r} gives variables of other shapes than model "
                           f"{config.model!r} on this data (image_channels={config.image_channels}?)")
  ema = {"params": params, **variables} if state.ema is not None else None
  return state.replace(params=params, model_state=variables, opt_state=tx.init(params), ema=ema)
