"""Losses of the MLP/regression, graph and PonderNet models, as pure functions of arrays.

Every per-example loss is returned UNREDUCED (the caller takes the mean, possibly masked);
`ponder_loss` is the exception: it is the whole PonderNet objective, (scalar, {its two terms}).
The standard losses are optax's (a dependency of flax, so archs still needs only jax, flax and numpy).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

KL_DIRECTIONS = ("forward", "reverse")


def mse(predictions, targets):
  """Squared error (predictions - targets)^2, elementwise."""
  return optax.squared_error(predictions, targets)


def binary_cross_entropy_with_logits(logits, labels):
  """-y log s(z) - (1 - y) log(1 - s(z)), elementwise, in the stable log-sigmoid form.

  log(1 - s(z)) = log s(-z), and log s is computed without overflow for any |z|.
  """
  return optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype))


def softmax_cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Cross-entropy of integer `labels` (...) against `logits` (..., C), per example.

  Label smoothing (Szegedy et al. 2016): the target is (1 - eps) one_hot + eps / C.
  """
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing={label_smoothing!r}; accepted: 0 <= label_smoothing < 1")
  logits = logits.astype(jnp.float32)
  if label_smoothing == 0.0:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype), label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def geometric_prior(lambda_p: float, max_steps: int, renormalize: bool = True):
  """p_G(n) = (1 - lambda_p)^(n-1) lambda_p for steps n = 1..N, shape (N,).

  Truncated at N it sums to 1 - (1 - lambda_p)^N; `renormalize` divides by that sum
  (labml does not renormalize).
  """
  if not 0.0 < lambda_p <= 1.0:
    raise ValueError(f"lambda_p={lambda_p!r}; accepted: 0 < lambda_p <= 1")
  prior = lambda_p * (1.0 - lambda_p) ** jnp.arange(max_steps, dtype=jnp.float32)
  return prior / jnp.sum(prior) if renormalize else prior


def _xlogy_ratio(a, b):
  """a log(a / b) with 0 log 0 = 0 (a step the halting distribution never reaches adds nothing).

  b is floored at the smallest normal float: p_n underflows to 0 once some lambda_j saturates to 1,
  and the reverse KL would otherwise be infinite.
  """
  b = jnp.maximum(b, jnp.finfo(b.dtype).tiny)
  return jnp.where(a > 0, a * (jnp.log(jnp.where(a > 0, a, 1.0)) - jnp.log(b)), 0.0)


def ponder_kl(p, prior, direction: str = "forward"):
  """KL between the halting distribution p (N, B) and the prior (N,), per example (B,).

  'forward': KL(p || p_G), as the paper writes it (eq. 6). 'reverse': KL(p_G || p), what labml
  computes (`KLDivLoss(p.log(), p_g)`).
  """
  prior = prior[:, None]
  if direction == "forward":
    return jnp.sum(_xlogy_ratio(p, prior), axis=0)
  if direction == "reverse":
    return jnp.sum(_xlogy_ratio(jnp.broadcast_to(prior, p.shape), p), axis=0)
  raise ValueError(f"kl_direction={direction!r}; accepted: {', '.join(KL_DIRECTIONS)}")


def ponder_loss(step_losses, p, *, lambda_p: float, beta: float, kl_direction: str = "forward",
                renormalize_prior: bool = True):
  """PonderNet's objective L = L_rec + beta L_reg (Banino et al. 2021, eq. 5-6), a scalar.

  step_losses: (N, B) the task loss L(y, y_n) of each step's prediction; p: (N, B) halting distribution.
  L_rec = mean_b sum_n p_n L(y, y_n); L_reg = mean_b KL(p || p_G(lambda_p)).
  Defaults follow the paper: forward KL(p || p_G) as eq. 6 writes it, and a renormalized
  truncated prior, so that L_reg is a true divergence (>= 0, zero iff p = p_G) of two
  distributions on the same N steps. labml's choice is kl_direction='reverse', renormalize_prior=False.
  Returns (loss, {'reconstruction': L_rec, 'regularization': L_reg}).
  """
  if step_losses.shape != p.shape:
    raise ValueError(f"step_losses shape {step_losses.shape} != p shape {p.shape}; both must be (N, B)")
  prior = geometric_prior(lambda_p, p.shape[0], renormalize_prior)
  reconstruction = jnp.mean(jnp.sum(p * step_losses, axis=0))
  regularization = jnp.mean(ponder_kl(p, prior, kl_direction))
  loss = reconstruction + beta * regularization
  return loss, {"reconstruction": reconstruction, "regularization": regularization}
