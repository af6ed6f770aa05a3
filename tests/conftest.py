"""Every test process sees 8 fake CPU devices, so multi-device code is tested without hardware."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update("jax_platforms", "cpu")
