"""Figures of the analysis commands (matplotlib, the optional `analysis` extra, imported on first use)."""
from __future__ import annotations

import os

import numpy as np

from train import errors


def pyplot():
  try:
    import matplotlib
  except ImportError:
    raise errors.UserError('the figures need matplotlib; accepted: pip install -e ".[analysis]" '
                           "(the .npz data is written without it)") from None
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def save(fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  pyplot().close(fig)
  return path


def line(x, ys: dict, path: str, xlabel: str, ylabel: str, title: str, logy: bool = False) -> str:
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for label, y in ys.items():
    ax.plot(x, y, label=label)
  ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
  if logy:
    ax.set_yscale("log")
  if len(ys) > 1:
    ax.legend()
  return save(fig, path)


def contour_and_surface(axis, z, out_prefix: str, title: str) -> list[str]:
  """A contour plot and a 3-D surface of z (points, points) over axis x axis."""
  plt = pyplot()
  x, y = np.meshgrid(axis, axis, indexing="ij")
  fig, ax = plt.subplots(figsize=(4.5, 4))
  cs = ax.contour(x, y, z, levels=20)
  ax.clabel(cs, fontsize=6)
  ax.plot([0], [0], "k+")
  ax.set(xlabel="direction 1", ylabel="direction 2", title=title)
  paths = [save(fig, out_prefix + "_contour.png")]
  fig = plt.figure(figsize=(5, 4))
  ax = fig.add_subplot(projection="3d")
  ax.plot_surface(x, y, z, cmap="viridis", linewidth=0)
  ax.set(xlabel="direction 1", ylabel="direction 2", title=title)
  paths.append(save(fig, out_prefix + "_surface.png"))
  return paths


def density(grid, values, eigenvalues, path: str, title: str) -> str:
  """The SLQ density on a log scale (as PyHessian plots it), the top eigenvalues marked."""
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.semilogy(grid, np.maximum(values, 1e-8))
  for e in eigenvalues:
    ax.axvline(e, color="r", lw=0.5)
  ax.set(xlabel="eigenvalue", ylabel="density (log)", title=title, ylim=(1e-6, None))
  return save(fig, path)


def image_grid(images, path: str, title: str, overlays=None, labels=None, cmap="gray") -> str:
  """One row of images (B, H, W[, C]); overlays (B, H, W) in [0, 1] drawn on top as a heat map."""
  plt = pyplot()
  n = len(images)
  cols = min(n, 8)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows + 0.3), squeeze=False)
  for i, ax in enumerate(axes.ravel()):
    ax.axis("off")
    if i >= n:
      continue
    img = np.asarray(images[i], np.float32)
    img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    if img.ndim == 3:
      img = (img - img.min()) / (np.ptp(img) + 1e-8)
    ax.imshow(img, cmap=cmap)
    if overlays is not None:
      ax.imshow(overlays[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
    if labels is not None:
      ax.set_title(str(labels[i]), fontsize=7)
  fig.suptitle(title, fontsize=9)
  return save(fig, path)


def _show(ax, img, fixed: bool, cmap="gray"):
  img = np.asarray(img, np.float32)
  img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
  if img.ndim == 3 and not fixed:
    img = (img - img.min()) / (np.ptp(img) + 1e-8)
  ax.imshow(img, cmap=cmap, **({"vmin": 0, "vmax": 1} if fixed else {}))


def image_rows(rows, path: str, title: str, col_labels=None) -> str:
  """One row of images per (label, images (B, H, W[, C]), overlays (B, H, W) in [0, 1] or None, fixed): `fixed`
  images are already in [0, 1] (shown as they are), others are scaled per image."""
  plt = pyplot()
  cols = len(rows[0][1])
  fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols + 0.8, 1.3 * len(rows) + 0.4), squeeze=False)
  for r, (label, images, overlays, fixed) in enumerate(rows):
    for i, ax in enumerate(axes[r]):
      ax.set_xticks([])
      ax.set_yticks([])
      _show(ax, images[i], fixed)
      if overlays is not None:
        ax.imshow(overlays[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
      if r == 0 and col_labels is not None:
        ax.set_title(str(col_labels[i]), fontsize=7)
    axes[r, 0].set_ylabel(label, fontsize=7)
  fig.suptitle(title, fontsize=8)
  return save(fig, path)


def matrices(named, path: str, title: str) -> str:
  """Heat maps of (rows, cols) matrices side by side (attention weights: row = query, column = key)."""
  plt = pyplot()
  cols = min(len(named), 4)
  rows = -(-len(named) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows + 0.4), squeeze=False)
  for ax in axes.ravel()[len(named):]:
    ax.axis("off")
  for ax, (label, m) in zip(axes.ravel(), named):
    ax.imshow(np.asarray(m, np.float32), cmap="viridis", vmin=0)
    ax.set_title(label, fontsize=8)
    ax.set_xlabel("key", fontsize=7)
    ax.set_ylabel("query", fontsize=7)
    ax.tick_params(labelsize=6)
  fig.suptitle(title, fontsize=8)
  return save(fig, path)


def bubbles(rows: list[dict], path: str, x_key: str, x_label: str) -> str:
  """Accuracy against cost, circle area proportional to the parameter count, one labelled circle per run."""
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6, 4.5))
  params = np.array([r["num_params"] for r in rows], np.float64)
  sizes = 2000 * params / params.max()
  xs = [r[x_key] for r in rows]
  ys = [100 * r["eval_accuracy"] for r in rows]
  ax.scatter(xs, ys, s=sizes, alpha=0.4)
  for r, x, y in zip(rows, xs, ys):
    ax.annotate(r["name"], (x, y), fontsize=7, ha="center")
  ax.set_xscale("log")
  ax.margins(0.25)  # room for the largest circles
  ax.set(xlabel=x_label, ylabel="eval accuracy (%)", title="accuracy vs cost (area = parameters)")
  return save(fig, path)


def out_dir(workdir: str) -> str:
  path = os.path.join(workdir, "analysis")
  os.makedirs(path, exist_ok=True)
  return path
