"""Graph convolutional network (Kipf and Welling 2017, "Semi-Supervised Classification with Graph
Convolutional Networks", ICLR; kipf/gcn).

Layer (eq. 2): H' = act(D^-1/2 (A + I) D^-1/2 H W), D_ii = sum_j (A + I)_ij, written as message passing
over an edge list: node i receives d_i^-1/2 d_j^-1/2 (H W)_j from every sender j of an edge j -> i and
from itself (the self loop of A + I), summed with segment_sum. Equal to the dense formula (tests).

Contract: `model.apply(variables, node_features, edges, train=False)` with node_features (N, F) float
and edges (E, 2) int32 [sender, receiver] pairs (an undirected graph lists both directions) returns
logits (N, num_classes). Dropout (on each layer's input, as kipf/gcn) draws from the 'dropout' stream.
Defaults as kipf/gcn: 2 layers, 16 hidden units, ReLU, dropout 0.5, Glorot-uniform weights, no bias.
(kipf/gcn decays the first layer's weights only; configs/gcn.py's weight decay applies to both kernels.)
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.layers.activations import get_activation
from archs.registry import register_model


def split_edges(edges):
  """(E, 2) [sender, receiver] pairs -> (senders (E,), receivers (E,)), int32."""
  edges = jnp.asarray(edges)
  if edges.ndim != 2 or edges.shape[1] != 2:
    raise ValueError(f"edges of shape {edges.shape}; accepted: (E, 2) [sender, receiver] pairs")
  return edges[:, 0].astype(jnp.int32), edges[:, 1].astype(jnp.int32)


def gcn_propagate(h, senders, receivers, num_nodes: int):
  """D^-1/2 (A + I) D^-1/2 h for the graph with edges senders -> receivers, via segment_sum."""
  nodes = jnp.arange(num_nodes, dtype=jnp.int32)
  senders = jnp.concatenate([senders, nodes])  # the self loops of A + I
  receivers = jnp.concatenate([receivers, nodes])
  degree = jax.ops.segment_sum(jnp.ones_like(receivers, h.dtype), receivers, num_nodes)
  inv_sqrt_degree = jax.lax.rsqrt(degree)  # >= 1 thanks to the self loop
  weight = inv_sqrt_degree[senders] * inv_sqrt_degree[receivers]
  return jax.ops.segment_sum(h[senders] * weight[:, None], receivers, num_nodes)


class GraphConv(nn.Module):
  """One GCN layer without its activation: D^-1/2 (A + I) D^-1/2 H W (+ b)."""
  features: int
  use_bias: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, senders, receivers):
    h = nn.Dense(self.features, use_bias=False, dtype=self.dtype,
                 kernel_init=nn.initializers.xavier_uniform(), name="linear")(h)
    h = gcn_propagate(h, senders, receivers, h.shape[0])  # transform first: fewer features to move
    if self.use_bias:
      h = h + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(h.dtype)
    return h


class GCN(nn.Module):
  """Stack of GraphConv layers: dropout -> GraphConv -> act, the last layer without activation."""
  hidden_sizes: Sequence[int] = (16,)
  num_classes: int = 2
  dropout_rate: float = 0.5
  activation: str = "relu"
  use_bias: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, node_features, edges, *, train: bool = False, return_features: bool = False):
    if node_features.ndim != 2:
      raise ValueError(f"node_features of shape {node_features.shape}; accepted: (num_nodes, features)")
    senders, receivers = split_edges(edges)
    act = get_activation(self.activation)
    h = node_features.astype(self.dtype)
    for i, width in enumerate(self.hidden_sizes):
      h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = act(GraphConv(width, self.use_bias, self.dtype, name=f"conv_{i}")(h, senders, receivers))
    features = h
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    logits = GraphConv(self.num_classes, self.use_bias, self.dtype, name="head")(h, senders, receivers)
    logits = logits.astype(jnp.float32)
    if return_features:
      return {"logits": logits, "pre_logits": features}
    return logits


# Kipf & Welling's citation-network model (Cora: num_classes=7).
register_model(functools.partial(GCN, hidden_sizes=(16,), num_classes=7, dropout_rate=0.5), name="gcn")
# Karate club (train/graph_data.py): 34 one-hot features, 2 factions. With adamw(1e-2, wd 5e-4), 200
# full-graph steps, 2 labelled nodes: 31/32 test nodes right for each of 5 seeds (hidden 4: one seed dies).
register_model(functools.partial(GCN, hidden_sizes=(16,), num_classes=2, dropout_rate=0.5), name="gcn_tiny")
