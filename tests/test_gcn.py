"""GCN: segment_sum message passing equals the dense normalized-adjacency formula; the karate club data."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import archs
from archs.gcn import GCN, gcn_propagate, split_edges
from archs.losses import softmax_cross_entropy
from train.graph_data import KARATE_EDGES, karate_club, to_directed


def gcn_dense_propagate(h, adjacency):
  """The GCN product with a dense (N, N) adjacency A, A[i, j] = 1 for an edge j -> i: the oracle, in jax."""
  a_hat = adjacency + jnp.eye(adjacency.shape[0], dtype=adjacency.dtype)
  inv_sqrt_degree = 1.0 / jnp.sqrt(jnp.sum(a_hat, axis=1))
  return (inv_sqrt_degree[:, None] * a_hat * inv_sqrt_degree[None, :]) @ h


def _random_graph(seed, num_nodes=9, num_edges=14):
  """Undirected simple graph as directed pairs (both directions) and its dense adjacency."""
  rng = np.random.default_rng(seed)
  pairs = set()
  while len(pairs) < num_edges:
    i, j = rng.integers(0, num_nodes, 2)
    if i != j:
      pairs.add((min(i, j), max(i, j)))
  edges = to_directed(sorted(pairs))
  adjacency = np.zeros((num_nodes, num_nodes), np.float32)
  adjacency[edges[:, 1], edges[:, 0]] = 1.0
  return edges, adjacency


def test_segment_sum_propagation_equals_dense_formula():
  edges, adjacency = _random_graph(0)
  h = np.random.default_rng(1).normal(size=(9, 5)).astype(np.float32)
  senders, receivers = split_edges(edges)
  sparse = gcn_propagate(jnp.asarray(h), senders, receivers, 9)
  a_hat = adjacency + np.eye(9)
  d = a_hat.sum(1)
  dense = (a_hat / np.sqrt(d[:, None] * d[None, :])) @ h  # D^-1/2 (A + I) D^-1/2 H in numpy
  np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6, err_msg="segment_sum != dense formula")
  np.testing.assert_allclose(gcn_dense_propagate(jnp.asarray(h), jnp.asarray(adjacency)), dense, rtol=1e-5,
                             atol=1e-6, err_msg="gcn_dense_propagate != numpy formula")


def test_model_equals_two_dense_layers():
  edges, adjacency = _random_graph(2)
  x = np.random.default_rng(3).normal(size=(9, 6)).astype(np.float32)
  model = GCN(hidden_sizes=(4,), num_classes=3, dropout_rate=0.5, use_bias=True)
  variables = model.init(jax.random.key(0), x, edges)
  p = jax.tree.map(np.asarray, variables["params"])
  a_hat = adjacency + np.eye(9)
  d = a_hat.sum(1)
  norm_adj = a_hat / np.sqrt(d[:, None] * d[None, :])
  hidden = np.maximum(norm_adj @ x @ p["conv_0"]["linear"]["kernel"] + p["conv_0"]["bias"], 0.0)
  expected = norm_adj @ hidden @ p["head"]["linear"]["kernel"] + p["head"]["bias"]
  logits = model.apply(variables, x, edges)  # train=False: no dropout
  assert logits.shape == (9, 3), f"logits {logits.shape}, expected (num_nodes, num_classes) = (9, 3)"
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5,
                             err_msg="GCN != A_hat relu(A_hat X W0 + b0) W1 + b1")


def test_dropout_only_in_training():
  edges, _ = _random_graph(4)
  x = jnp.ones((9, 6))
  model = GCN(hidden_sizes=(8,), num_classes=2, dropout_rate=0.5)
  variables = model.init(jax.random.key(0), x, edges)
  a = model.apply(variables, x, edges, train=True, rngs={"dropout": jax.random.key(1)})
  b = model.apply(variables, x, edges, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(a, b), "different dropout keys should give different training outputs"
  np.testing.assert_array_equal(model.apply(variables, x, edges), model.apply(variables, x, edges),
                                err_msg="evaluation must be deterministic")


def test_bad_edges_raise():
  with pytest.raises(ValueError, match=r"\(E, 2\)"):
    split_edges(jnp.zeros((3, 3), jnp.int32))


def test_karate_club_facts():
  data = karate_club()
  edges = np.asarray(KARATE_EDGES)
  assert len(set(map(tuple, edges))) == 78 and edges.shape == (78, 2), "78 distinct undirected friendships"
  assert np.all(edges[:, 0] < edges[:, 1]), "each pair once with i < j (no self loops)"
  assert data["edges"].shape == (156, 2), "both directions listed"
  degree = np.bincount(data["edges"][:, 1], minlength=34)
  assert (degree[0], degree[33], degree.sum()) == (16, 17, 156), \
      f"Mr. Hi (0) has 16 friends, the Officer (33) 17; got {degree[0]}, {degree[33]}"
  assert np.bincount(data["labels"]).tolist() == [17, 17], "17 members per faction"
  assert data["labels"][0] == 0 and data["labels"][33] == 1, "leaders: node 0 Mr. Hi, node 33 Officer"
  assert data["node_features"].shape == (34, 34) and np.all(data["node_features"] == np.eye(34)), "one-hot"
  assert data["train_mask"].sum() == 2 and not np.any(data["train_mask"] & data["test_mask"]), "masks"


def test_gcn_tiny_separates_the_karate_factions():
  data = {k: jnp.asarray(v) for k, v in karate_club().items()}
  model = archs.create_model("gcn_tiny")
  params = model.init(jax.random.key(0), data["node_features"], data["edges"])
  tx = optax.adamw(1e-2, weight_decay=5e-4)

  def train_step(carry, key):
    params, opt_state = carry

    def loss_fn(params):
      logits = model.apply(params, data["node_features"], data["edges"], train=True, rngs={"dropout": key})
      losses = softmax_cross_entropy(logits, data["labels"])
      return jnp.sum(losses * data["train_mask"]) / jnp.sum(data["train_mask"])

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.key(1), 200)
  (params, _), _ = jax.jit(lambda p, k: jax.lax.scan(train_step, (p, tx.init(p)), k))(params, keys)
  predictions = model.apply(params, data["node_features"], data["edges"]).argmax(-1)
  accuracy = float(jnp.sum((predictions == data["labels"]) * data["test_mask"]) / jnp.sum(data["test_mask"]))
  assert accuracy >= 0.85, f"test accuracy {accuracy:.3f} from 2 labelled nodes, expected >= 0.85 (measured 31/32)"
