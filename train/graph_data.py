"""Zachary's karate club (W. W. Zachary, "An information flow model for conflict and fission in small
groups", J. Anthropological Research 33, 1977): 34 members, 78 friendships, and the two factions the
club split into, Mr. Hi's (the instructor, node 0) and the Officer's (the administrator, node 33).

Node numbering 0..33 and faction labels as the widely used UCINET data file (also networkx's
`karate_club_graph`, attribute 'club'). For GCN node classification (Kipf & Welling 2017, section 6 demo):
identity one-hot node features, one labelled node per faction.
"""
from __future__ import annotations

import numpy as np

NUM_NODES = 34
FACTIONS = ("Mr. Hi", "Officer")

# Each undirected friendship once, (i, j) with i < j.
KARATE_EDGES = (
    (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10), (0, 11), (0, 12), (0, 13),
    (0, 17), (0, 19), (0, 21), (0, 31),
    (1, 2), (1, 3), (1, 7), (1, 13), (1, 17), (1, 19), (1, 21), (1, 30),
    (2, 3), (2, 7), (2, 8), (2, 9), (2, 13), (2, 27), (2, 28), (2, 32),
    (3, 7), (3, 12), (3, 13),
    (4, 6), (4, 10),
    (5, 6), (5, 10), (5, 16),
    (6, 16),
    (8, 30), (8, 32), (8, 33),
    (9, 33),
    (13, 33),
    (14, 32), (14, 33),
    (15, 32), (15, 33),
    (18, 32), (18, 33),
    (19, 33),
    (20, 32), (20, 33),
    (22, 32), (22, 33),
    (23, 25), (23, 27), (23, 29), (23, 32), (23, 33),
    (24, 25), (24, 27), (24, 31),
    (25, 31),
    (26, 29), (26, 33),
    (27, 33),
    (28, 31), (28, 33),
    (29, 32), (29, 33),
    (30, 32), (30, 33),
    (31, 32), (31, 33),
    (32, 33),
)

# Members who followed Mr. Hi (faction 0); everyone else followed the Officer (faction 1).
MR_HI_MEMBERS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 16, 17, 19, 21)

# Semi-supervised split: only the two leaders are labelled.
KARATE_TRAIN_NODES = (0, 33)


def to_directed(edges) -> np.ndarray:
  """(E, 2) undirected pairs -> (2E, 2) int32 [sender, receiver] pairs, both directions."""
  edges = np.asarray(edges, np.int32).reshape(-1, 2)
  return np.concatenate([edges, edges[:, ::-1]], axis=0)


def karate_club() -> dict[str, np.ndarray]:
  """The karate club as arrays for `archs.gcn` models.

  node_features (34, 34) float32 identity; edges (156, 2) int32 directed [sender, receiver];
  labels (34,) int32 (0 Mr. Hi, 1 Officer); train_mask / test_mask (34,) bool (test = all unlabelled).
  """
  labels = np.ones(NUM_NODES, np.int32)
  labels[list(MR_HI_MEMBERS)] = 0
  train_mask = np.zeros(NUM_NODES, bool)
  train_mask[list(KARATE_TRAIN_NODES)] = True
  return {
      "node_features": np.eye(NUM_NODES, dtype=np.float32),
      "edges": to_directed(KARATE_EDGES),
      "labels": labels,
      "train_mask": train_mask,
      "test_mask": ~train_mask,
  }
