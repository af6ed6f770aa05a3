"""Stochastic depth as modern networks use it (timm's DropPath): a per-sample residual drop."""
import flax.linen as nn
import jax
import jax.numpy as jnp


class DropPath(nn.Module):
  """Zeroes the whole residual branch of a random `rate` fraction of samples, scaling the rest by 1/(1-rate).

  Identity at eval or when rate == 0. Draws from the 'dropout' RNG stream.
  """
  rate: float = 0.0

  @nn.compact
  def __call__(self, x, train: bool = False):
    if not train or self.rate == 0.0:
      return x
    keep = 1.0 - self.rate
    mask = jax.random.bernoulli(self.make_rng("dropout"), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


def dropped_residual(x, y, *, drop_rate: float, drop_path_rate: float, train: bool):
  """x + DropPath(Dropout(y)), the residual add of a pre-norm sequence block (RetNet, TNN).

  Call it inside the block's compact `__call__`: the two layers become the block's submodules.
  """
  y = nn.Dropout(drop_rate)(y, deterministic=not train)
  return x + DropPath(drop_path_rate)(y, train)
