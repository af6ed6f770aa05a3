"""Stochastic depth as Huang et al. (2016) define it: one Bernoulli gate per residual block per mini-batch.

The modern per-sample form (timm's DropPath, rescaled at train time) is `archs.layers.drop_path.DropPath`.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

# Draws made once per mini-batch (whether a block or a column drops) use this RNG stream when the caller gives it.
# A data-parallel trainer gives every device the same key here, so the global batch shares one draw as on one
# device; without it they fall back to 'dropout' (one device, or a caller that never splits the batch).
BATCH_RNG = "batch_dropout"


def batch_rng(module: nn.Module):
  """A key for a once-per-mini-batch draw inside `module`."""
  return module.make_rng(BATCH_RNG if module.has_rng(BATCH_RNG) else "dropout")


class StochasticDepth(nn.Module):
  """Gates a residual branch f(x): train keeps it whole with prob 1 - rate, else zero, with NO rescaling (one draw
  for the whole mini-batch); eval returns (1 - rate) f(x), the expected branch (Huang et al. eq. 5).

  Draws from the 'batch_dropout' RNG stream ('dropout' when absent). The branch is still computed when dropped (the reference code skips it, which
  also leaves its BatchNorm statistics untouched); the output is the same.
  """
  rate: float = 0.0

  @nn.compact
  def __call__(self, branch, train: bool = False):
    if not 0.0 <= self.rate < 1.0:
      raise ValueError(f"stochastic depth rate must be in [0, 1), got {self.rate}")
    if self.rate == 0.0:
      return branch
    survival = 1.0 - self.rate
    if not train:
      return branch * jnp.asarray(survival, branch.dtype)
    gate = jax.random.bernoulli(batch_rng(self), survival)
    return jnp.where(gate, branch, jnp.zeros_like(branch))


def linear_decay_rates(final_rate: float, num_blocks: int) -> list[float]:
  """Huang et al.'s linear decay rule: block l = 1..L dies with rate (l / L) * final_rate, final_rate = 1 - p_L."""
  return [final_rate * (l + 1) / num_blocks for l in range(num_blocks)]
