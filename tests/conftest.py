"""Every test process sees 8 fake CPU devices, so multi-device code is tested without hardware."""
import importlib.util

import chex
import jax
import pytest

chex.set_n_cpu_devices(8)  # before any JAX operation; sets XLA_FLAGS, so subprocesses see 8 devices too

jax.config.update("jax_platforms", "cpu")

# The weight converters' parity tests (marker `torch`) need the `torch` extra: left out where torch is not installed.
collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["test_weights_*.py"]


@pytest.fixture(scope="module")
def fast_compile():
  """Compiles with most XLA optimizations off: much faster compiles for tests that run many small models.

  Use with `pytestmark = pytest.mark.usefixtures("fast_compile")`.
  """
  old = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", old)


@pytest.fixture
def temporary_model():
  """`register(fn, name, **kw) -> name`: registers a test-only model, removed again when the test ends."""
  from archs import registry
  names = []

  def register(fn, name, **kwargs):
    registry.register_model(fn, name=name, **kwargs)
    names.append(name)
    return name

  yield register
  for name in names:
    registry.unregister_model(name)
