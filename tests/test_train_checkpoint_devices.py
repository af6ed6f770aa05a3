"""A checkpoint written on 8 devices restores on 1 and the reverse (host arrays carry no device layout)."""
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from train import checkpoint, step as step_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_DEVICE = textwrap.dedent("""
    import sys, jax, jax.numpy as jnp, numpy as np
    from train import checkpoint, step as step_lib
    assert jax.device_count() == 1
    state = step_lib.TrainState(step=jnp.int32(5), params={"w": jnp.arange(16.0).reshape(4, 4)}, model_state={},
                                opt_state=(), ema=None, rng=jax.random.PRNGKey(5))
    ckpts = checkpoint.Checkpoints(sys.argv[2], keep=2)
    if sys.argv[1] == "save":
      ckpts.save(step_lib.replicate(state))
    else:
      restored = step_lib.replicate(ckpts.restore(jax.eval_shape(lambda: state)))
      np.testing.assert_array_equal(restored.params["w"], np.full((4, 4), 7.0))
      assert int(restored.step) == 7
    ckpts.close()
""")


def _state(step, w):
  return step_lib.TrainState(step=jnp.int32(step), params={"w": w}, model_state={}, opt_state=(), ema=None,
                             rng=jax.random.PRNGKey(step))


def _one_device(mode, workdir):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
  done = subprocess.run([sys.executable, "-c", ONE_DEVICE, mode, str(workdir)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]


def test_eight_devices_to_one(tmp_path):
  assert jax.device_count() == 8
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=2)
  ckpts.save(step_lib.replicate(_state(7, jnp.full((4, 4), 7.0))))
  ckpts.close()
  _one_device("restore", tmp_path)
  assert os.listdir(tmp_path / "checkpoints") == ["7"], "nothing may be moved aside"


def test_one_device_to_eight(tmp_path):
  _one_device("save", tmp_path)
  ckpts = checkpoint.Checkpoints(str(tmp_path), keep=2)
  restored = step_lib.replicate(ckpts.restore(jax.eval_shape(lambda: _state(0, jnp.zeros((4, 4))))))
  ckpts.close()
  assert len(restored.params["w"].sharding.device_set) == 8
  np.testing.assert_array_equal(restored.params["w"], np.arange(16.0).reshape(4, 4))
