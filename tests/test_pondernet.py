"""PonderNet: halting distribution, prior and KL options, sampled halting, the model, the parity task."""
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from archs.losses import binary_cross_entropy_with_logits, geometric_prior, ponder_kl, ponder_loss
from archs.pondernet import (PonderNet, PonderStep, expected_steps, halting_distribution, parity_batch,
                             early_exit, sample_halting_step, threshold_halting_step)


def _random_lambdas(seed, n=6, batch=5):
  lambdas = np.random.default_rng(seed).uniform(0.05, 0.95, (n, batch)).astype(np.float32)
  lambdas[-1] = 1.0
  return lambdas


def _numpy_halting(lambdas):
  p = np.zeros_like(lambdas)
  for b in range(lambdas.shape[1]):
    not_halted = 1.0
    for n in range(lambdas.shape[0]):
      p[n, b] = lambdas[n, b] * not_halted
      not_halted *= 1.0 - lambdas[n, b]
  return p


def test_halting_distribution_is_formula_and_sums_to_one():
  lambdas = _random_lambdas(0)
  p = np.asarray(halting_distribution(jnp.asarray(lambdas)))
  np.testing.assert_allclose(p, _numpy_halting(lambdas), rtol=1e-5,
                             err_msg="p_n != lambda_n prod_{j<n} (1 - lambda_j)")
  np.testing.assert_allclose(p.sum(0), 1.0, rtol=1e-5, err_msg="p does not sum to 1 with lambda_N = 1")


def test_expected_steps_formula():
  lambdas = _random_lambdas(1)
  p = _numpy_halting(lambdas)
  expected = (np.arange(1, p.shape[0] + 1)[:, None] * p).sum(0)
  np.testing.assert_allclose(expected_steps(jnp.asarray(p)), expected, rtol=1e-5,
                             err_msg="expected steps != sum_n n p_n")


@pytest.mark.parametrize("renormalize", [True, False])
def test_geometric_prior(renormalize):
  lambda_p, n = 0.2, 7
  prior = np.asarray(geometric_prior(lambda_p, n, renormalize))
  raw = np.array([(1 - lambda_p) ** k * lambda_p for k in range(n)])
  expected = raw / raw.sum() if renormalize else raw
  np.testing.assert_allclose(prior, expected, rtol=1e-5, err_msg=f"p_G(k) = (1-l)^k l, renormalize={renormalize}")
  total = 1.0 if renormalize else 1 - (1 - lambda_p) ** n
  np.testing.assert_allclose(prior.sum(), total, rtol=1e-5, err_msg="prior mass")


@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("renormalize", [True, False])
def test_kl_options_and_loss_match_numpy(direction, renormalize):
  lambdas = _random_lambdas(2)
  p = _numpy_halting(lambdas)
  prior = np.array([0.8 ** k * 0.2 for k in range(p.shape[0])])
  if renormalize:
    prior = prior / prior.sum()
  if direction == "forward":  # KL(p || p_G), the paper
    kl = (p * np.log(p / prior[:, None])).sum(0)
  else:  # KL(p_G || p), labml's KLDivLoss(p.log(), p_g)
    kl = (prior[:, None] * np.log(prior[:, None] / p)).sum(0)
  got = ponder_kl(jnp.asarray(p), jnp.asarray(prior, jnp.float32), direction)
  np.testing.assert_allclose(got, kl, rtol=1e-4, err_msg=f"{direction} KL")
  step_losses = np.random.default_rng(3).uniform(0, 2, p.shape).astype(np.float32)
  loss, parts = ponder_loss(jnp.asarray(step_losses), jnp.asarray(p), lambda_p=0.2, beta=0.01,
                            kl_direction=direction, renormalize_prior=renormalize)
  reconstruction = (p * step_losses).sum(0).mean()
  np.testing.assert_allclose(parts["reconstruction"], reconstruction, rtol=1e-5, err_msg="L_rec")
  np.testing.assert_allclose(parts["regularization"], kl.mean(), rtol=1e-4, err_msg="L_reg")
  np.testing.assert_allclose(loss, reconstruction + 0.01 * kl.mean(), rtol=1e-4, err_msg="L_rec + beta L_reg")


def test_kl_of_prior_with_itself_is_zero_and_bad_direction_raises():
  prior = geometric_prior(0.3, 5, renormalize=True)
  p = jnp.broadcast_to(prior[:, None], (5, 2))
  np.testing.assert_allclose(ponder_kl(p, prior, "forward"), 0.0, atol=1e-6, err_msg="KL(p_G || p_G) != 0")
  with pytest.raises(ValueError, match="kl_direction"):
    ponder_kl(p, prior, "symmetric")


def test_sampled_halting_respects_lambda_and_matches_p():
  n, batch = 4, 3
  never = jnp.zeros((n, batch)).at[-1].set(1.0)
  steps = sample_halting_step(jax.random.key(0), never)
  assert np.all(steps == n), f"lambda_n = 0 before N must halt at N={n}, got {steps}"
  no_last = jnp.zeros((n, batch))  # lambda_N forced to 1 even if the caller forgot it
  assert np.all(sample_halting_step(jax.random.key(1), no_last) == n), "must halt at N at the latest"
  first = jnp.ones((n, batch))
  assert np.all(sample_halting_step(jax.random.key(2), first) == 1), "lambda_1 = 1 must halt at step 1"
  lambdas = jnp.broadcast_to(jnp.array([0.3, 0.5, 0.2, 1.0])[:, None], (n, 20_000))
  steps = np.asarray(sample_halting_step(jax.random.key(3), lambdas))
  freq = np.bincount(steps, minlength=n + 1)[1:] / steps.size
  np.testing.assert_allclose(freq, np.asarray(halting_distribution(lambdas))[:, 0], atol=0.015,
                             err_msg="halting-step frequencies differ from p")


def test_model_outputs_and_scan_equals_unrolled_loop():
  model = PonderNet(hidden_size=8, max_steps=5)
  x, _ = parity_batch(jax.random.key(0), 3, 6)
  variables = model.init(jax.random.key(1), x)
  out = model.apply(variables, x, sample_halting=True, rngs={"dropout": jax.random.key(2)})
  assert out["logits"].shape == (5, 3) and out["lambdas"].shape == (5, 3), "expected (N, B) outputs"
  np.testing.assert_array_equal(out["lambdas"][-1], 1.0, err_msg="lambda_N must be 1")
  np.testing.assert_allclose(out["p"].sum(0), 1.0, rtol=1e-5, err_msg="p sums to 1")
  with pytest.raises(flax.errors.InvalidRngError, match="dropout"):
    model.apply(variables, x, sample_halting=True)  # the draws use the 'dropout' stream
  index = np.asarray(out["halt_step"]) - 1
  np.testing.assert_allclose(out["halted_logits"], np.asarray(out["logits"])[index, np.arange(3)],
                             err_msg="halted_logits are the logits of the halting step")
  # The scan is h_1 = cell(x, 0), h_{n+1} = cell(x, h_n), outputs read h_n: replay it step by step.
  step = PonderStep(8, 1, "gru")
  step_vars = {"params": variables["params"]["step"]}
  h = jnp.zeros((3, 8))
  for n in range(5):
    h, (y, lam) = step.apply(step_vars, h, x)
    np.testing.assert_allclose(out["logits"][n], y[:, 0], rtol=1e-5, atol=1e-6, err_msg=f"step {n + 1} logits")
    if n < 4:
      np.testing.assert_allclose(out["lambdas"][n], lam, rtol=1e-5, atol=1e-6, err_msg=f"step {n + 1} lambda")


def test_parity_batch_is_the_task():
  x, y = parity_batch(jax.random.key(0), 2000, 8)
  x, y = np.asarray(x), np.asarray(y)
  assert x.shape == (2000, 8) and y.shape == (2000,), "shapes (batch, n_elems), (batch,)"
  assert set(np.unique(x)) <= {-1.0, 0.0, 1.0}, "entries in {-1, 0, 1}"
  nonzero = (x != 0).sum(1)
  assert (nonzero.min(), nonzero.max()) == (1, 8), f"nonzero counts span 1..8, got {nonzero.min()}..{nonzero.max()}"
  np.testing.assert_array_equal(y, (x == 1).sum(1) % 2, err_msg="label = parity of the number of +1s")
  assert 0.4 < y.mean() < 0.6, f"labels balanced, mean {y.mean()}"


def test_registered_variants_and_bad_cell():
  assert archs.create_model("pondernet_parity").hidden_size == 64
  paper = archs.create_model("pondernet_parity_paper")
  assert (paper.hidden_size, paper.max_steps, paper.cell) == (128, 20, "rnn"), "paper: 128 tanh units, N = 20"
  with pytest.raises(ValueError, match="cell"):
    PonderNet(cell="lstm").init(jax.random.key(0), jnp.zeros((1, 4)))


def test_learns_parity_a_bit():
  model, n_elems, batch = PonderNet(hidden_size=16, max_steps=4), 3, 64
  x, _ = parity_batch(jax.random.key(0), batch, n_elems)
  params = model.init(jax.random.key(1), x)
  tx = optax.adam(1e-2)

  def loss_fn(params, key):
    x, y = parity_batch(key, batch, n_elems)
    out = model.apply(params, x)
    step_losses = binary_cross_entropy_with_logits(out["logits"], jnp.broadcast_to(y, out["logits"].shape))
    return ponder_loss(step_losses, out["p"], lambda_p=0.2, beta=0.01)[0]

  def train_step(carry, key):
    params, opt_state = carry
    loss, grads = jax.value_and_grad(loss_fn)(params, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  keys = jax.random.split(jax.random.key(2), 150)
  _, losses = jax.jit(lambda p, k: jax.lax.scan(train_step, (p, tx.init(p)), k))(params, keys)
  first, last = float(losses[:20].mean()), float(losses[-20:].mean())
  assert last < 0.5 * first, f"loss should halve in 150 steps: first {first:.3f}, last {last:.3f}"


@pytest.mark.slow
def test_pondernet_parity_reaches_95_percent():
  """The registered recipe: Adam 1e-3, clip 1, batch 128, lambda_p 0.2, beta 0.01 (measured 96% at 3000 steps)."""
  model, n_elems, batch = archs.create_model("pondernet_parity"), 8, 128
  params = model.init(jax.random.key(0), jnp.zeros((1, n_elems)))
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))

  def train_step(carry, key):
    params, opt_state = carry

    def loss_fn(params):
      x, y = parity_batch(key, batch, n_elems)
      out = model.apply(params, x)
      step_losses = binary_cross_entropy_with_logits(out["logits"], jnp.broadcast_to(y, out["logits"].shape))
      return ponder_loss(step_losses, out["p"], lambda_p=0.2, beta=0.01)[0]

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.key(1), 4000)
  (params, _), _ = jax.jit(lambda p, k: jax.lax.scan(train_step, (p, tx.init(p)), k))(params, keys)
  x, y = parity_batch(jax.random.key(2), 4096, n_elems)
  out = model.apply(params, x, sample_halting=True, rngs={"dropout": jax.random.key(3)})
  accuracy = float(jnp.mean((out["halted_logits"] > 0) == y))
  assert accuracy >= 0.95, f"parity accuracy {accuracy:.3f} with sampled halting after 4000 steps, expected >= 0.95"


def _halting_bias(variables, bias):
  """Sets the halting unit's bias: lambda_n ~ sigmoid(bias) at every step."""
  params = jax.tree_util.tree_map_with_path(
      lambda path, p: jnp.full_like(p, bias) if "halting" in str(path) and "bias" in str(path) else p,
      variables["params"])
  return {"params": params}


@pytest.mark.parametrize("num_outputs", [1, 3])
def test_early_exit_equals_selecting_the_halting_step_of_a_full_run(num_outputs):
  model = PonderNet(hidden_size=8, max_steps=6, num_outputs=num_outputs)
  x, _ = parity_batch(jax.random.key(0), 16, 5)
  variables = _halting_bias(model.init(jax.random.key(1), x), -1.0)  # lambda ~ 0.27: halting steps spread
  full = model.apply(variables, x)
  logits = np.asarray(full["logits"])
  at = lambda step: np.take_along_axis(logits, (np.asarray(step) - 1).reshape((1, -1) + (1,) * (logits.ndim - 2)),
                                       axis=0)[0]
  key = jax.random.key(2)
  for how, step in ((dict(key=key), sample_halting_step(key, full["lambdas"])),
                    (dict(threshold=0.3), threshold_halting_step(full["p"], 0.3)),
                    (dict(threshold=0.7), threshold_halting_step(full["p"], 0.7))):
    fast = early_exit(model, variables, x, **how)
    np.testing.assert_array_equal(fast["halt_step"], step, err_msg=f"{how}: halting steps differ")
    np.testing.assert_allclose(fast["halted_logits"], at(step), rtol=1e-5, atol=1e-6, err_msg=f"{how}: outputs")
    assert int(fast["steps_run"]) == int(step.max()), f"{how}: the loop must stop at the last halting step"
    assert len(np.unique(step)) > 1, f"{how}: degenerate halting steps {step}: a weak comparison"


def test_early_exit_computes_fewer_steps(monkeypatch):
  """A step that counts its own calls (a host callback per executed step): halting at once runs 1 step of N."""
  import archs.pondernet as pondernet
  calls = []

  class CountingStep(PonderStep):
    def __call__(self, h, x):
      jax.debug.callback(lambda: calls.append(1))
      return super().__call__(h, x)

  monkeypatch.setattr(pondernet, "PonderStep", CountingStep)
  model = PonderNet(hidden_size=7, max_steps=9)  # a shape no other test compiles
  x, _ = parity_batch(jax.random.key(0), 4, 5)
  variables = model.init(jax.random.key(1), x)
  for bias, expected in ((20.0, 1), (-20.0, 9)):  # lambda ~ 1 halts at step 1; lambda ~ 0 runs to N
    calls.clear()
    out = jax.block_until_ready(early_exit(model, _halting_bias(variables, bias), x, threshold=0.5))
    jax.effects_barrier()
    assert len(calls) == int(out["steps_run"]) == expected, f"bias {bias}: {len(calls)} calls, {out['steps_run']}"
    np.testing.assert_array_equal(out["halt_step"], expected)
  with pytest.raises(ValueError, match="exactly one of key"):
    early_exit(model, variables, x)
