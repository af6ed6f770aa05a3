"""Window attention's bookkeeping (Swin Transformer, Liu et al. 2021, Sec. 3.2): non-overlapping windows of a
feature map, the cyclic shift's attention mask, and the relative position index of the bias table (Eq. 4).

All of it depends on static shapes only, so it is computed in numpy at trace time.
"""
from __future__ import annotations

import numpy as np


def window_partition(x, window: tuple[int, int]):
  """(B, H, W, C) -> (B * nW, wh * ww, C); windows in row-major order, batch-major. H, W multiples of the window."""
  b, h, w, c = x.shape
  wh, ww = window
  x = x.reshape(b, h // wh, wh, w // ww, ww, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b * (h // wh) * (w // ww), wh * ww, c)


def window_merge(windows, window: tuple[int, int], size: tuple[int, int]):
  """The inverse of window_partition: (B * nW, wh * ww, C) -> (B, H, W, C)."""
  (wh, ww), (h, w) = window, size
  c = windows.shape[-1]
  x = windows.reshape(-1, h // wh, w // ww, wh, ww, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(-1, h, w, c)


def relative_position_index(window: tuple[int, int], table_window: tuple[int, int]):
  """(N, N) int: row of the bias table ((2 Mh - 1) (2 Mw - 1) rows, M = table_window) for every query/key pair
  of a (wh, ww) window, wh <= Mh, ww <= Mw. The relative offset (dy, dx) lies in [-(M-1), M-1] (Eq. 4's B-hat)."""
  wh, ww = window
  mh, mw = table_window
  if wh > mh or ww > mw:
    raise ValueError(f"window {window} is larger than the bias table's window {table_window}")
  coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)  # (2, N)
  rel = coords[:, :, None] - coords[:, None, :]
  return (rel[0] + mh - 1) * (2 * mw - 1) + (rel[1] + mw - 1)


def _regions(size: int, window: int, shift: int):
  if shift == 0:
    return [slice(0, size)]
  return [slice(0, size - window), slice(size - window, size - shift), slice(size - shift, size)]


def shifted_window_mask(padded: tuple[int, int], size: tuple[int, int], window: tuple[int, int],
                        shift: tuple[int, int]):
  """(nW, N, N) bool, True where a query may attend to a key, or None when every pair may.

  After the cyclic shift by -shift, a window at the border holds pieces of the map that were not adjacent: tokens
  attend only within their own piece (the paper's masked MSA, Fig. 4). Tokens padded to fill the last windows
  (at the bottom/right of the unshifted map) are never attended to.
  """
  (hp, wp), (h, w) = padded, size
  if shift == (0, 0) and (hp, wp) == (h, w):
    return None
  labels = np.zeros((hp, wp), np.int32)
  regions = [(hs, ws) for hs in _regions(hp, window[0], shift[0]) for ws in _regions(wp, window[1], shift[1])]
  for i, (hs, ws) in enumerate(regions):
    labels[hs, ws] = i
  valid = np.zeros((hp, wp), bool)
  valid[:h, :w] = True
  valid = np.roll(valid, (-shift[0], -shift[1]), axis=(0, 1))
  labels = window_partition(labels[None, :, :, None], window)[..., 0]  # (nW, N)
  valid = window_partition(valid[None, :, :, None], window)[..., 0]
  return (labels[:, :, None] == labels[:, None, :]) & valid[:, None, :]
