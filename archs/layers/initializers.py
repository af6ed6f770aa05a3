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


# ---------------------------------------------------------------- a kernel initialiser chosen by name (configs)

INIT_FORMS = ("default", "zeros", "normal[:std]", "lecun[:uniform]", "xavier|glorot[:normal]", "he|kaiming[:uniform]")
# name: (scale, mode, the paper's distribution) of variance_scaling: variance = scale / fan.
_SCALED = {"lecun": (1.0, "fan_in", "normal"), "xavier": (1.0, "fan_avg", "uniform"),
           "glorot": (1.0, "fan_avg", "uniform"), "he": (2.0, "fan_in", "normal"), "kaiming": (2.0, "fan_in", "normal")}


def kernel_init(spec):
  """'zeros', 'normal:0.01', 'lecun', 'xavier', 'he' ... -> a flax initializer; None or 'default' -> None (the
  model keeps its reference's init); a callable passes through.

  Variances (n = fan-in, m = fan-out): lecun 1/n (LeCun et al. 1998), xavier/glorot 2/(n + m) (Glorot & Bengio
  2010, their uniform form by default), he/kaiming 2/n (He et al. 2015, their normal form by default); ':uniform' or
  ':normal' picks the other distribution with the same variance. 'normal' alone is N(0, 0.01^2).
  """
  if spec is None or callable(spec):
    return spec
  name, _, arg = str(spec).lower().partition(":")
  try:
    if name == "default" and not arg:
      return None
    if name == "zeros" and not arg:
      return nn.initializers.zeros
    if name == "normal":
      return nn.initializers.normal(float(arg) if arg else 0.01)
    if name in _SCALED and arg in ("", "normal", "uniform"):
      scale, mode, distribution = _SCALED[name]
      return nn.initializers.variance_scaling(scale, mode, arg or distribution)
  except ValueError:
    pass
  raise ValueError(f"kernel_init {spec!r}; accepted: {', '.join(INIT_FORMS)}")
