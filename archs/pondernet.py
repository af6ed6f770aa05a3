"""PonderNet (Banino, Balaguer and Blundell 2021, "PonderNet: Learning to Ponder", arXiv 2107.05407).

A step function y_n, h_{n+1}, lambda_n = s(x, h_n) runs for N steps (nn.scan); lambda_n is the probability
of halting at step n given that no earlier step halted, so p_n = lambda_n prod_{j<n} (1 - lambda_j) (eq. 2).
lambda_N = 1 makes p a distribution over the N steps. The loss is losses.ponder_loss.

Step function as labml (adaptive_computation/ponder_net): h_1 = cell(x, 0), h_{n+1} = cell(x, h_n),
y_n = Linear(h_n), lambda_n = sigmoid(Linear(h_n)). `cell='gru'` (labml) or `cell='rnn'` (an Elman RNN of
tanh units, the "128 tanh units" of the parity experiment that PonderNet takes from ACT, Graves 2016).
Flax's GRUCell has 4H biases where torch.nn.GRUCell has 6H; the two extra are redundant (b_ir + b_hr).

Contract: `model.apply(variables, x)` with x (B, n_elems) float returns a dict
  logits  (N, B) per-step outputs y_n ((N, B, num_outputs) when num_outputs > 1),
  lambdas (N, B) conditional halting probabilities, lambdas[-1] == 1,
  p       (N, B) halting distribution, sums to 1 over N,
  expected_steps (B,) sum_n n p_n.
With `sample_halting=True` (inference) it also returns halt_step (B,) int32 in 1..N, the first step whose
Bernoulli(lambda_n) draw halted, and halted_logits (B, ...) = logits at that step. The draws use the
'dropout' RNG stream: `rngs={'dropout': key}`.

Inference with early exit: `early_exit(model, variables, x, key=...)` (sampled halting: the draws of
sample_halting_step(key, lambdas) over a full run) or `threshold=t` (halt once the cumulative halting probability sum_{j<=n} p_j
reaches t; 0.5 = the median of p) runs the steps in a while loop that stops as soon as every example of the batch
has halted, so the steps after the last halting are never computed. It returns each example's output at its halting
step, the halting steps and the number of steps run (their maximum).
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.registry import register_model

CELLS = ("gru", "rnn")


def halting_distribution(lambdas):
  """p_n = lambda_n prod_{j<n} (1 - lambda_j) along axis 0 (eq. 2)."""
  not_halted = jnp.cumprod(1.0 - lambdas, axis=0)
  not_halted_before = jnp.concatenate([jnp.ones_like(lambdas[:1]), not_halted[:-1]], axis=0)
  return lambdas * not_halted_before


def expected_steps(p):
  """Expected number of ponder steps sum_n n p_n, steps counted from 1, over axis 0."""
  steps = jnp.arange(1, p.shape[0] + 1, dtype=p.dtype).reshape((-1,) + (1,) * (p.ndim - 1))
  return jnp.sum(steps * p, axis=0)


def halting_draws(key, shape):
  """Uniform draws u (N, B): step n halts when u_n < lambda_n (a Bernoulli(lambda_n) draw)."""
  return jax.random.uniform(key, shape)


def threshold_halting_step(p, threshold: float):
  """The first step n (1-based) whose cumulative halting probability sum_{j<=n} p_j reaches threshold; N at most."""
  reached = (jnp.cumsum(p, axis=0) >= threshold).at[-1].set(True)
  return (jnp.argmax(reached, axis=0) + 1).astype(jnp.int32)


def sample_halting_step(key, lambdas):
  """The first step n (1-based) whose Bernoulli(lambda_n) draw halts; N if none before it does.

  Drawing all N Bernoullis at once and taking the first success has the law of halting step by step.
  """
  halts = halting_draws(key, lambdas.shape) < lambdas
  halts = halts.at[-1].set(True)
  return (jnp.argmax(halts, axis=0) + 1).astype(jnp.int32)


def parity_batch(key, batch: int, n_elems: int):
  """The parity task (Graves 2016; PonderNet section 3.1): x (batch, n_elems) float32, y (batch,) int32.

  A uniform number k in 1..n_elems of randomly placed entries is set to +1 or -1 (fair coin), the rest
  are 0; y = (number of +1 entries) mod 2.
  """
  if batch < 1 or n_elems < 1:
    raise ValueError(f"batch={batch!r}, n_elems={n_elems!r}; accepted: positive integers")
  count_key, place_key, sign_key = jax.random.split(key, 3)
  counts = jax.random.randint(count_key, (batch, 1), 1, n_elems + 1)
  # A random permutation of the positions; the first `count` of them are nonzero.
  ranks = jnp.argsort(jnp.argsort(jax.random.uniform(place_key, (batch, n_elems)), axis=1), axis=1)
  signs = jnp.where(jax.random.bernoulli(sign_key, 0.5, (batch, n_elems)), 1.0, -1.0)
  x = jnp.where(ranks < counts, signs, 0.0).astype(jnp.float32)
  y = (jnp.sum(x == 1.0, axis=1) % 2).astype(jnp.int32)
  return x, y


class PonderStep(nn.Module):
  """One step: h_n = cell(x, h_{n-1}); y_n and lambda_n read h_n."""
  hidden_size: int
  num_outputs: int
  cell: str
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, x):
    if self.cell == "gru":
      h, _ = nn.GRUCell(self.hidden_size, dtype=self.dtype, name="cell")(h, x)
    else:
      h, _ = nn.SimpleCell(self.hidden_size, dtype=self.dtype, name="cell")(h, x)
    y = nn.Dense(self.num_outputs, dtype=self.dtype, name="output")(h)
    lam = jax.nn.sigmoid(nn.Dense(1, dtype=self.dtype, name="halting")(h)[:, 0])
    return h, (y.astype(jnp.float32), lam.astype(jnp.float32))


class PonderNet(nn.Module):
  """PonderNet over a recurrent cell; see the module docstring for the call contract."""
  hidden_size: int = 64
  max_steps: int = 20
  num_outputs: int = 1
  cell: str = "gru"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, sample_halting: bool = False):
    if self.cell not in CELLS:
      raise ValueError(f"cell={self.cell!r}; accepted: {', '.join(CELLS)}")
    if self.max_steps < 1:
      raise ValueError(f"max_steps={self.max_steps!r}; accepted: an integer >= 1")
    steps = nn.scan(PonderStep, variable_broadcast="params", split_rngs={"params": False},
                    in_axes=nn.broadcast, length=self.max_steps)
    h0 = jnp.zeros((x.shape[0], self.hidden_size), self.dtype)
    _, (y, lambdas) = steps(self.hidden_size, self.num_outputs, self.cell, self.dtype,
                            name="step")(h0, x.astype(self.dtype))
    if self.num_outputs == 1:
      y = y[..., 0]
    lambdas = lambdas.at[-1].set(1.0)  # halt at N at the latest: p sums to 1.
    p = halting_distribution(lambdas)
    out = {"logits": y, "lambdas": lambdas, "p": p, "expected_steps": expected_steps(p)}
    if sample_halting:
      halt_step = sample_halting_step(self.make_rng("dropout"), lambdas)
      index = (halt_step - 1).reshape((1, -1) + (1,) * (y.ndim - 2))
      out["halt_step"] = halt_step
      out["halted_logits"] = jnp.take_along_axis(y, index, axis=0)[0]
    return out


@functools.partial(jax.jit, static_argnames=("model", "threshold"))
def early_exit(model: PonderNet, variables, x, key=None, threshold: float | None = None):
  """Runs the steps only until every example has halted (module docstring): exactly one of `key` (sampled halting)
  or `threshold` (cumulative halting probability). Returns halted_logits (B, ...), halt_step (B,) int32 in 1..N
  and steps_run (), the number of steps computed."""
  if (key is None) == (threshold is None):
    raise ValueError(f"early_exit: give exactly one of key (sampled halting) or threshold; got key={key!r}, "
                     f"threshold={threshold!r}")
  batch, n_max = x.shape[0], model.max_steps
  step = PonderStep(model.hidden_size, model.num_outputs, model.cell, model.dtype)
  step_vars = {"params": variables["params"]["step"]}
  draws = halting_draws(key, (n_max, batch)) if key is not None else None
  out_shape = (batch,) if model.num_outputs == 1 else (batch, model.num_outputs)

  def body(state):
    n, h, not_halted, cumulative, halted, halt_step, out = state  # n steps done so far
    h, (y, lam) = step.apply(step_vars, h, x.astype(model.dtype))
    y = y[:, 0] if model.num_outputs == 1 else y
    lam = jnp.where(n == n_max - 1, 1.0, lam)  # lambda_N = 1
    cumulative = cumulative + lam * not_halted  # sum_{j<=n} p_j
    fires = draws[n] < lam if key is not None else cumulative >= threshold
    now = fires & ~halted
    halt_step = jnp.where(now, n + 1, halt_step)
    out = jnp.where(now.reshape((-1,) + (1,) * (out.ndim - 1)), y, out)
    return n + 1, h, not_halted * (1.0 - lam), cumulative, halted | fires, halt_step, out

  state = (jnp.int32(0), jnp.zeros((batch, model.hidden_size), model.dtype), jnp.ones((batch,)), jnp.zeros((batch,)),
           jnp.zeros((batch,), jnp.bool_), jnp.zeros((batch,), jnp.int32), jnp.zeros(out_shape, jnp.float32))
  n, _, _, _, _, halt_step, out = jax.lax.while_loop(lambda s: ~jnp.all(s[4]), body, state)
  return {"halted_logits": out, "halt_step": halt_step, "steps_run": n}


# labml's experiment: 8 elements, 64 GRU units, N = 20 (train with lambda_p = 0.2, beta = 0.01).
register_model(functools.partial(PonderNet, hidden_size=64, max_steps=20, cell="gru"), name="pondernet_parity")
# The paper's parity setup: 64 elements, 128 tanh units (as ACT), N = 20, beta = 0.01.
register_model(functools.partial(PonderNet, hidden_size=128, max_steps=20, cell="rnn"),
               name="pondernet_parity_paper")
