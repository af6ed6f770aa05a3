"""PyTorch's default initialisations, where a reference's weights start from them."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# torch.nn.Linear's weight: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), variance 1/(3 fan_in).
torch_linear_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_linear_bias_init(fan_in: int):
  """torch.nn.Linear's bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / np.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)
