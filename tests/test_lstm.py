"""LSTM facts: the cell equals the gate equations in numpy, the LM equals a numpy time loop, causality,
state carrying, parameter counts per formula, and a scan whose program does not grow with the length."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.lstm import LSTMCell, LSTMLanguageModel

_sigmoid = lambda z: 1 / (1 + np.exp(-z))


def _numpy_cell(p, c, h, x):
  """i, f, g, o = split(x W_x + b_x + h W_h + b_h); c' = f c + i g; h' = o tanh(c')."""
  z = x @ p["input"]["kernel"] + p["input"]["bias"] + h @ p["hidden"]["kernel"] + p["hidden"].get("bias", 0.0)
  i, f, g, o = np.split(z, 4, axis=-1)
  c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
  return c, _sigmoid(o) * np.tanh(c)


def _np(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


@pytest.mark.parametrize("recurrent_bias", [True, False])
def test_cell_equals_gate_equations(recurrent_bias):
  rng = np.random.RandomState(0)
  cell = LSTMCell(5, init_scale=0.5, recurrent_bias=recurrent_bias)
  xs = rng.randn(4, 2, 3).astype(np.float32)  # 4 steps, batch 2, 3 inputs
  carry = cell.initialize_carry(jax.random.key(0), (2, 3))
  params = cell.init(jax.random.key(1), carry, xs[0])["params"]
  c, h = np.zeros((2, 5)), np.zeros((2, 5))
  for x in xs:
    carry, out = cell.apply({"params": params}, carry, jnp.asarray(x))
    c, h = _numpy_cell(_np(params), c, h, x)
    np.testing.assert_allclose(carry[0], c, rtol=1e-5, atol=1e-6, err_msg="cell state != f c + i g")
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6, err_msg="hidden state != o tanh(c)")


def test_forget_bias_init():
  cell = LSTMCell(8, init_scale=0.05, forget_bias=1.0)
  shapes = (jnp.zeros((1, 8)), jnp.zeros((1, 8)))
  bias = np.asarray(cell.init(jax.random.key(0), shapes, jnp.zeros((1, 4)))["params"]["input"]["bias"])
  assert np.all(np.abs(bias[8:16] - 1.0) <= 0.05), f"forget-gate bias should start at 1 +- 0.05, got {bias[8:16]}"
  others = np.concatenate([bias[:8], bias[16:]])
  assert np.all(np.abs(others) <= 0.05), f"other gate biases should be U(-0.05, 0.05), got {others}"


def _tiny(**kw):
  model = archs.create_model("lstm_tiny", vocab_size=30, hidden_size=12, **kw)
  tokens = jnp.asarray(np.random.RandomState(1).randint(0, 30, (2, 7)), jnp.int32)
  return model, model.init(jax.random.key(0), tokens), tokens


def test_language_model_equals_numpy_time_loop():
  model, variables, tokens = _tiny()
  p = _np(variables["params"])
  x = p["embedding"]["embedding"][np.asarray(tokens)]  # (B, L, H)
  for layer in range(model.num_layers):
    c = h = np.zeros((2, model.hidden_size))
    outs = []
    for t in range(x.shape[1]):
      c, h = _numpy_cell(p["lstm"][f"layer_{layer}"], c, h, x[:, t])
      outs.append(h)
    x = np.stack(outs, axis=1)
  want = x @ p["output"]["kernel"] + p["output"]["bias"]
  np.testing.assert_allclose(model.apply(variables, tokens), want, rtol=1e-4, atol=1e-5,
                             err_msg="LSTM LM != embedding -> numpy LSTM loop per layer -> Dense")


def test_causal_and_state_carrying():
  model, variables, tokens = _tiny()
  full, state = model.apply(variables, tokens, return_state=True)
  changed = model.apply(variables, tokens.at[:, 4:].set(0))
  np.testing.assert_allclose(full[:, :4], changed[:, :4], atol=1e-6, err_msg="future tokens changed earlier logits")
  assert not np.allclose(full[:, 4:], changed[:, 4:]), "changed tokens must change their own logits"
  first, mid = model.apply(variables, tokens[:, :3], return_state=True)
  second, end = model.apply(variables, tokens[:, 3:], initial_state=mid, return_state=True)
  np.testing.assert_allclose(jnp.concatenate([first, second], 1), full, atol=1e-5,
                             err_msg="two segments with the carried state must equal one pass")
  for got, want in zip(jax.tree.leaves(end), jax.tree.leaves(state)):
    np.testing.assert_allclose(got, want, atol=1e-6, err_msg="final states of split and unsplit runs differ")


def _expected_params(m):
  """Embedding V H + per layer 4H (in + H) + 4H (+ 4H recurrent bias) + softmax H V + V (none when tied)."""
  h, v = m.hidden_size, m.vocab_size
  layer = 4 * h * (h + h) + 4 * h * (2 if m.recurrent_bias else 1)
  return v * h + m.num_layers * layer + (0 if m.tie_embeddings else h * v + v)


@pytest.mark.parametrize("name,overrides", [("lstm_tiny", {}), ("lstm_base", {}), ("lstm_large", {}),
                                            ("lstm_tiny", dict(recurrent_bias=False, tie_embeddings=True))])
def test_param_count_equals_formula(name, overrides):
  model = archs.create_model(name, **overrides)
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 3), jnp.int32))
  got = sum(x.size for x in jax.tree.leaves(shapes["params"]))
  assert got == _expected_params(model), f"{name} {overrides}: expected {_expected_params(model)} params, got {got}"


def test_zaremba_configs():
  base, large = archs.create_model("lstm_base"), archs.create_model("lstm_large")
  got = [(m.num_layers, m.hidden_size, m.dropout_rate, m.init_scale, m.vocab_size) for m in (base, large)]
  assert got == [(2, 650, 0.5, 0.05, 10000), (2, 1500, 0.65, 0.04, 10000)], f"Zaremba medium/large, got {got}"


def test_time_loop_is_one_scan_per_layer():
  model, variables, _ = _tiny()
  eqns = {}
  for length in (4, 32):
    jaxpr = jax.make_jaxpr(lambda v, t: model.apply(v, t))(variables, jnp.zeros((2, length), jnp.int32))
    names = [e.primitive.name for e in jaxpr.jaxpr.eqns]
    eqns[length] = len(names)
    assert names.count("scan") == model.num_layers, f"expected one scan per layer, got primitives {names}"
  assert eqns[4] == eqns[32], f"the program must not grow with the length; equations per length: {eqns}"


def test_dropout_only_in_train():
  model, variables, tokens = _tiny(dropout_rate=0.5)
  a = model.apply(variables, tokens, train=True, rngs={"dropout": jax.random.key(1)})
  b = model.apply(variables, tokens, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(a, b), "train=True must apply dropout"
  np.testing.assert_array_equal(model.apply(variables, tokens), model.apply(variables, tokens),
                                err_msg="train=False must be deterministic")


def test_bad_initial_state_raises():
  model, variables, tokens = _tiny()
  with pytest.raises(ValueError, match="one \\(c, h\\) per layer"):
    model.apply(variables, tokens, initial_state=((jnp.zeros((2, 12)), jnp.zeros((2, 12))),))
  assert isinstance(model, LSTMLanguageModel)


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model, variables, tokens = _tiny(dtype=jnp.bfloat16)
  dtypes = {p.dtype for p in jax.tree.leaves(variables["params"])}
  assert dtypes == {jnp.dtype(jnp.float32)}, f"parameters must stay float32, got {dtypes}"
  logits = model.apply(variables, tokens)
  assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all()), f"float32 finite logits, got {logits.dtype}"


def test_rematerialized_steps_same_gradients_fewer_residuals():
  """remat_steps recomputes each step in the backward pass: the same loss and gradients, and the scan saves fewer
  per-step activations (the linearized program holds fewer stacked (L, B, H) residuals)."""
  model, variables, tokens = _tiny(dropout_rate=0.3)
  stored = archs.create_model("lstm_tiny", vocab_size=30, hidden_size=12, dropout_rate=0.3, remat_steps=False)
  rngs = {"dropout": jax.random.key(3)}
  loss = lambda m: lambda p: jnp.mean(m.apply({"params": p}, tokens, train=True, rngs=rngs) ** 2)
  (a, ga), (b, gb) = (jax.value_and_grad(loss(m))(variables["params"]) for m in (model, stored))
  np.testing.assert_allclose(a, b, rtol=1e-6, err_msg="remat_steps changed the loss")
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7), ga, gb)
  residuals = lambda m: len(jax.tree.leaves(jax.vjp(loss(m), variables["params"])[1]))
  assert residuals(model) < residuals(stored), f"{residuals(model)} vs {residuals(stored)} residuals"
