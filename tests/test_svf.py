"""archs/svf.py: singular-value fine-tuning on registered models (z = 1 is the original, only z trains)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from archs import create_model
from archs.svf import chosen_kernels, svf_init, svf_params


def _transformer():
  model = create_model("transformer_tiny", vocab_size=20, d_model=16, num_heads=2, d_ff=24)
  src = jnp.asarray(np.random.default_rng(0).integers(3, 20, (2, 5)), jnp.int32)
  return model, model.init(jax.random.key(0), src, src)["params"], (src, src)


def _mlp():
  model = create_model("mlp", num_classes=3)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 1)), jnp.float32)
  return model, model.init(jax.random.key(0), x)["params"], (x,)


@pytest.mark.parametrize("make,pattern,count", [
    (_transformer, "*ffn/*/kernel", 2 * (2 + 2) * 16),  # wi (16 x 24), wo (24 x 16): 16 singular values each
    (_mlp, "*kernel", None)])
def test_z_of_ones_reproduces_the_model_and_only_z_trains(make, pattern, count):
  model, params, inputs = make()
  bases, z = svf_init(params, pattern)
  flat = {"/".join(str(k.key) for k in p): x for p, x in jax.tree_util.tree_leaves_with_path(params)}
  expected = sum(min(flat[n].shape) for n in chosen_kernels(params, pattern))
  assert sum(v.size for v in z.values()) == (count or expected) == expected, "z has one entry per singular value"
  out = model.apply({"params": params}, *inputs)
  np.testing.assert_allclose(model.apply({"params": svf_params(params, bases, z)}, *inputs), out, rtol=1e-4,
                             atol=1e-5, err_msg="z = 1 must reproduce the original outputs")

  loss = lambda z: jnp.mean(model.apply({"params": svf_params(params, bases, z)}, *inputs) ** 2)
  grads = jax.grad(loss)(z)
  assert jax.tree.structure(grads) == jax.tree.structure(z)
  assert all(float(jnp.abs(g).sum()) > 0 for g in grads.values()), "every z must receive a gradient"
  optimizer = optax.sgd(0.5)
  z_new = optax.apply_updates(z, optimizer.update(grads, optimizer.init(z), z)[0])
  assert float(loss(z_new)) < float(loss(z)), "a step on z must lower the loss"
  tuned = svf_params(params, bases, z_new)
  for path, x in jax.tree_util.tree_leaves_with_path(tuned):
    name = "/".join(str(k.key) for k in path)
    if name in bases:
      assert not np.allclose(x, flat[name]), f"{name}: a chosen kernel must change with z"
    else:
      np.testing.assert_array_equal(x, flat[name], err_msg=f"{name}: not chosen, must stay as it was")


def test_bad_patterns_are_errors():
  _, params, _ = _transformer()
  with pytest.raises(ValueError, match="pattern 'nothing' matches no parameter; kernels are e.g."):
    svf_init(params, "nothing")
  with pytest.raises(ValueError, match="accepted: 2-D Dense kernels only"):
    svf_init(params, "*self_attention/query/kernel")
