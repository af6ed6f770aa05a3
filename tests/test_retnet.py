"""RetNet: the three retention forms agree, the parallel form is (Q K^T * D) V, causality, torchscale's count."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.layers.retention import (retention_chunkwise, retention_decays, retention_parallel,
                                    retention_recurrent, rotate)
from archs.retnet import RetNetBlock

TOL = dict(atol=1e-4, rtol=1e-4)
VOCAB = 37


def _qkv(b=2, h=3, length=11, dk=4, dv=5, seed=0):
  rng = np.random.default_rng(seed)
  return [jnp.asarray(rng.normal(size=(b, h, length, d)), jnp.float32) for d in (dk, dk, dv)]


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_decays_are_one_minus_two_to_minus_five_minus_h():
  np.testing.assert_allclose(retention_decays(4), [1 - 1 / 32, 1 - 1 / 64, 1 - 1 / 128, 1 - 1 / 256], rtol=0,
                             atol=0, err_msg="gamma_h must be 1 - 2^(-5-h)")


def test_parallel_form_equals_dense_numpy_reference():
  q, k, v = _qkv()
  gamma = retention_decays(3)
  out, _ = retention_parallel(q, k, v, jnp.asarray(gamma, jnp.float32))
  qn, kn, vn = (np.asarray(a, np.float64) for a in (q, k, v))
  n = np.arange(q.shape[2])
  d = np.where(n[:, None] >= n[None, :], gamma[:, None, None] ** (n[:, None] - n[None, :]), 0.0)  # (H, L, L)
  expected = np.einsum("bhnm,bhme->bhne", np.einsum("bhnd,bhmd->bhnm", qn, kn) * d[None], vn)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg="parallel retention != (Q K^T * D) V")


@pytest.mark.parametrize("chunk_size", [1, 4, 5, 11, 16])
def test_three_forms_agree_on_outputs_and_state(chunk_size):
  q, k, v = _qkv()
  gamma = jnp.asarray(retention_decays(3), jnp.float32)
  par, s_par = retention_parallel(q, k, v, gamma)
  rec, s_rec = retention_recurrent(q, k, v, gamma)
  chu, s_chu = retention_chunkwise(q, k, v, gamma, chunk_size)
  for name, out, state in (("recurrent", rec, s_rec), (f"chunkwise({chunk_size})", chu, s_chu)):
    np.testing.assert_allclose(out, par, **TOL, err_msg=f"{name} outputs differ from the parallel form")
    np.testing.assert_allclose(state, s_par, **TOL, err_msg=f"{name} final state differs from the parallel form")


def test_three_forms_agree_on_gradients():
  q, k, v = _qkv()
  gamma = jnp.asarray(retention_decays(3), jnp.float32)
  forms = {"parallel": retention_parallel, "recurrent": retention_recurrent,
           "chunkwise(4)": functools.partial(retention_chunkwise, chunk_size=4)}
  grads = {name: jax.grad(lambda q, k, v: jnp.sum(jnp.sin(form(q, k, v, gamma)[0])), argnums=(0, 1, 2))(q, k, v)
           for name, form in forms.items()}
  for name in ("recurrent", "chunkwise(4)"):
    for g, ref, arg in zip(grads[name], grads["parallel"], "qkv"):
      np.testing.assert_allclose(g, ref, **TOL, err_msg=f"d/d{arg} of the {name} form != the parallel form's")


def test_incoming_state_continues_the_sequence():
  q, k, v = _qkv(length=12)
  gamma = jnp.asarray(retention_decays(3), jnp.float32)
  full, s_full = retention_parallel(q, k, v, gamma)
  _, s_head = retention_recurrent(q[:, :, :7], k[:, :, :7], v[:, :, :7], gamma)
  for form in (retention_parallel, retention_recurrent, functools.partial(retention_chunkwise, chunk_size=3)):
    tail, s_tail = form(q[:, :, 7:], k[:, :, 7:], v[:, :, 7:], gamma, state=s_head)
    np.testing.assert_allclose(tail, full[:, :, 7:], **TOL, err_msg=f"{form} with a state != the unbroken sequence")
    np.testing.assert_allclose(s_tail, s_full, **TOL, err_msg=f"{form}: final state != the unbroken sequence's")


def test_rotation_is_relative():
  """(R_n q) . (R_m k) depends only on n - m: the xPos-like rotation encodes relative position."""
  q, k, _ = _qkv(b=1, h=1, length=1, dk=8)
  dot = lambda n, m: float(jnp.sum(rotate(q, jnp.array([n])) * rotate(k, jnp.array([m]))))
  np.testing.assert_allclose(dot(5, 2), dot(13, 10), rtol=1e-4, err_msg="rotated q.k must depend on n - m only")


@pytest.mark.parametrize("chunk_size", [4, 5])
def test_block_forms_agree(chunk_size):
  block = RetNetBlock(dim=16, value_dim=24, ffn_dim=32, num_heads=2)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 12, 16))
  variables = block.init(jax.random.PRNGKey(1), x)
  par, _ = block.apply(variables, x, "parallel")
  for mode in ("recurrent", "chunkwise"):
    out, _ = block.apply(variables, x, mode, chunk_size)
    np.testing.assert_allclose(out, par, **TOL, err_msg=f"RetNetBlock {mode} (chunk {chunk_size}) != parallel")


@pytest.fixture(scope="module")
def tiny():
  model = archs.create_model("retnet_tiny", vocab_size=VOCAB)
  tokens = jax.random.randint(jax.random.PRNGKey(0), (2, 12), 0, VOCAB)
  return model, model.init(jax.random.PRNGKey(1), tokens), tokens


def test_model_logits_shape(tiny):
  model, variables, tokens = tiny
  logits = model.apply(variables, tokens)
  assert logits.shape == (2, 12, VOCAB) and logits.dtype == jnp.float32, f"expected (2, 12, {VOCAB}) float32"


@pytest.mark.parametrize("mode,chunk_size", [("recurrent", 64), ("chunkwise", 4), ("chunkwise", 5), ("chunkwise", 64)])
def test_model_forms_agree(tiny, mode, chunk_size):
  model, variables, tokens = tiny
  par = model.apply(variables, tokens, mode="parallel")
  out = model.apply(variables, tokens, mode=mode, chunk_size=chunk_size)
  np.testing.assert_allclose(out, par, **TOL, err_msg=f"retnet_tiny {mode} (chunk {chunk_size}) != parallel logits")


def test_prefill_then_decode_step_equals_parallel(tiny):
  model, variables, tokens = tiny
  par = model.apply(variables, tokens)
  logits, state = model.apply(variables, tokens[:, :7], mode="chunkwise", chunk_size=3, return_state=True)
  steps = [logits]
  step = jax.jit(functools.partial(model.apply, method=model.decode_step))
  for t in range(7, tokens.shape[1]):
    out, state = step(variables, tokens[:, t], state)
    steps.append(out[:, None])
  assert int(state["position"]) == tokens.shape[1], "the state must count the tokens it has seen"
  np.testing.assert_allclose(jnp.concatenate(steps, 1), par, **TOL, err_msg="prefill + decode_step != parallel")


def test_decode_from_init_state(tiny):
  model, variables, tokens = tiny
  par = model.apply(variables, tokens[:, :3])
  state = model.init_state(tokens.shape[0])
  for t in range(3):
    out, state = model.apply(variables, tokens[:, t], state, method=model.decode_step)
    np.testing.assert_allclose(out, par[:, t], **TOL, err_msg=f"decode_step from init_state != parallel at {t}")


@pytest.mark.parametrize("mode", ["parallel", "chunkwise"])
def test_causal(tiny, mode):
  model, variables, tokens = tiny
  changed = tokens.at[:, 6:].set((tokens[:, 6:] + 1) % VOCAB)
  a = model.apply(variables, tokens, mode=mode, chunk_size=4)
  b = model.apply(variables, changed, mode=mode, chunk_size=4)
  np.testing.assert_array_equal(a[:, :6], b[:, :6], err_msg="changing future tokens changed earlier logits")
  assert float(jnp.abs(a[:, 6:] - b[:, 6:]).max()) > 1e-3, "changed tokens must change their own logits"


def test_retnet_base_matches_torchscale_count():
  model = archs.create_model("retnet_base", vocab_size=1000)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 4), jnp.int32))["params"]
  body = {k: v for k, v in shapes.items() if k not in ("embed", "head")}
  assert _count(body) == 19_077_632, f"retnet_base without embeddings: expected 19,077,632, got {_count(body):,}"
  assert _count(body["blocks_0"]) == 3_179_520, f"per layer: expected 3,179,520, got {_count(body['blocks_0']):,}"


def test_bad_mode_raises(tiny):
  model, variables, tokens = tiny
  with pytest.raises(ValueError, match="unknown mode"):
    model.apply(variables, tokens, mode="sequential")


def test_torchscale_score_norm_is_the_papers_three_factors():
  """score_norm='torchscale': parallel = R-tilde V with D-tilde = D / sqrt(row sum of D) and R-tilde = R / max(|row
  sum of R|, 1) (paper Sec. 2.2, torchscale 0.3); recurrent = the D-tilde scaling alone (torchscale's decoding)."""
  from archs.layers.retention import retention_torchscale  # noqa: PLC0415
  q, k, v = _qkv(length=9)
  gamma = retention_decays(3)
  qn, kn, vn = (np.asarray(a, np.float64) for a in (q, k, v))
  n = np.arange(9)
  d = np.where(n[:, None] >= n[None, :], gamma[:, None, None] ** (n[:, None] - n[None, :]), 0.0)
  r = np.einsum("bhnd,bhmd->bhnm", qn, kn) * (d / np.sqrt(d.sum(-1, keepdims=True)))[None]
  clamp = np.maximum(np.abs(r.sum(-1, keepdims=True)), 1.0)
  assert (clamp > 1).any() and (clamp == 1).any(), "the inputs should exercise both sides of the clamp"
  g32, positions = jnp.asarray(gamma, jnp.float32), jnp.arange(9)
  par, _ = retention_torchscale(q, k, v, g32, "parallel", positions)
  rec, _ = retention_torchscale(q, k, v, g32, "recurrent", positions)
  np.testing.assert_allclose(par, np.einsum("bhnm,bhme->bhne", r / clamp, vn), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(rec, np.einsum("bhnm,bhme->bhne", r, vn), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="score_norm='torchscale' follows"):
    retention_torchscale(q, k, v, g32, "chunkwise", positions)


def test_unknown_score_norm_raises(tiny):
  model, variables, tokens = tiny
  with pytest.raises(ValueError, match="unknown score_norm 'paper'"):
    model.clone(score_norm="paper").apply(variables, tokens)
