"""Local Response Normalization across channels (Krizhevsky et al. 2012, section 3.3)."""
import jax.numpy as jnp
from jax import lax


def local_response_norm(x, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75,
                        alpha_over_size: bool = False):
  """b_c = a_c / (k + alpha * sum_{c' in window(c)} a_{c'}^2)^beta over the last (channel) axis.

  The window holds channels c - size//2 ... c + (size-1)//2, clipped at the ends (zero padding), which for
  odd `size` is the paper's max(0, c - n/2) ... min(N-1, c + n/2). Defaults are the paper's k=2, n=5,
  alpha=1e-4, beta=0.75 with alpha NOT divided by n (paper, default). `alpha_over_size=True` gives
  torch.nn.LocalResponseNorm / F.local_response_norm, which use alpha / n (an average of squares).
  """
  if size < 1:
    raise ValueError(f"LRN size must be >= 1, got {size}")
  squares = jnp.square(x.astype(jnp.float32))
  window_sum = lax.reduce_window(
      squares, 0.0, lax.add, (1,) * (x.ndim - 1) + (size,), (1,) * x.ndim,
      [(0, 0)] * (x.ndim - 1) + [(size // 2, (size - 1) // 2)])
  scale = alpha / size if alpha_over_size else alpha
  return (x / jnp.power(k + scale * window_sum, beta)).astype(x.dtype)
