"""Swin Transformer (Liu et al. 2021; timm swin_transformer.py, torchvision swin_transformer.py, v1).

Patch partition (4x4 conv) + LN; four stages of Swin blocks, alternating window attention (W-MSA) and shifted
window attention (SW-MSA, a cyclic shift by half a window, masked), each with a learned relative position bias;
patch merging (2x2 neighbours concatenated, LN, Linear 4C -> 2C) between stages; LN, global mean, linear head.

Any input size works: a stage whose map is no larger than the window in a direction uses one window of the map's
size there and no shift (timm, torchvision); maps that are not a multiple of the window are zero-padded at the
bottom/right and the padding is masked out of attention (torchvision pads but does not mask). The bias table keeps
the configured window's size, so the parameters do not depend on the input size.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from archs.layers.attention import MultiHeadAttention
from archs.layers.drop_path import DropPath
from archs.layers.ffn import FeedForward
from archs.layers.windows import relative_position_index, shifted_window_mask, window_merge, window_partition
from archs.registry import register_model

weight_init = nn.initializers.normal(0.02)  # timm's trunc_normal_(std=.02), truncated at +-2 (~100 sigma)
LayerNorm = functools.partial(nn.LayerNorm, epsilon=1e-5)  # torch nn.LayerNorm's default


class WindowAttention(nn.Module):
  """Multi-head self-attention within each window, Attention = softmax(Q K^T / sqrt(d) + B) V (Eq. 4).

  x (B * nW, N, C); `window` the (wh, ww) window of these tokens; `mask` (nW, N, N) bool or None.
  Parameters: 4 (C^2 + C) + (2M - 1)^2 heads. Attention weights are sown by the inner attention ('attn').
  """
  num_heads: int
  window_size: int = 7  # M, the bias table's window
  attn_drop_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, window: tuple[int, int], mask=None, *, train: bool = False):
    m = self.window_size
    table = self.param("relative_position_bias_table", weight_init, ((2 * m - 1) ** 2, self.num_heads), jnp.float32)
    bias = table[relative_position_index(window, (m, m))].transpose(2, 0, 1)[None]  # (1, heads, N, N)
    if mask is not None:  # windows are batch-major: the nW masks repeat for every image
      mask = jnp.tile(jnp.asarray(mask)[:, None], (x.shape[0] // mask.shape[0], 1, 1, 1))
    return MultiHeadAttention(self.num_heads, dropout_rate=self.attn_drop_rate, dtype=self.dtype,
                              kernel_init=weight_init, name="attn")(x, mask=mask, train=train, bias=bias)


class SwinBlock(nn.Module):
  """x + DropPath((S)W-MSA(LN(x))); x + DropPath(MLP(LN(x))) (Eq. 3) on an NHWC map."""
  num_heads: int
  window_size: int = 7
  shifted: bool = False
  mlp_ratio: float = 4.0
  drop_rate: float = 0.0
  attn_drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    b, h, w, c = x.shape
    window = (min(self.window_size, h), min(self.window_size, w))
    shift = tuple(self.window_size // 2 if self.shifted and size > self.window_size else 0 for size in (h, w))
    padded = (-(-h // window[0]) * window[0], -(-w // window[1]) * window[1])
    drop_path = DropPath(self.drop_path_rate)

    y = LayerNorm(dtype=self.dtype, name="norm1")(x)
    y = jnp.pad(y, ((0, 0), (0, padded[0] - h), (0, padded[1] - w), (0, 0)))
    y = jnp.roll(y, (-shift[0], -shift[1]), axis=(1, 2))
    mask = shifted_window_mask(padded, (h, w), window, shift)
    y = WindowAttention(self.num_heads, self.window_size, self.attn_drop_rate, self.dtype, name="attn")(
        window_partition(y, window), window, mask, train=train)
    y = jnp.roll(window_merge(y, window, padded), shift, axis=(1, 2))[:, :h, :w]
    x = x + drop_path(nn.Dropout(self.drop_rate)(y, deterministic=not train), train=train)

    y = LayerNorm(dtype=self.dtype, name="norm2")(x)
    y = FeedForward(int(c * self.mlp_ratio), kind="gelu", dropout_rate=self.drop_rate, dtype=self.dtype,
                    kernel_init=weight_init, name="mlp")(y, train=train)
    return x + drop_path(nn.Dropout(self.drop_rate)(y, deterministic=not train), train=train)


class PatchMerging(nn.Module):
  """2x2 neighbours concatenated (timm's order x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]),
  LN(4C), Linear(4C -> 2C) without bias; odd sides are zero-padded first (torchvision)."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    x = jnp.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
    x = LayerNorm(dtype=self.dtype, name="norm")(x)
    return nn.Dense(2 * c, use_bias=False, dtype=self.dtype, kernel_init=weight_init, name="reduction")(x)


class SwinTransformer(nn.Module):
  """Swin; drop-path rates grow linearly from 0 to drop_path_rate over all blocks (0.2 / 0.3 / 0.5 for T / S / B
  in the paper). Features: `stages` are the NHWC maps after each stage's blocks (strides 4, 8, 16, 32)."""
  depths: Sequence[int] = (2, 2, 6, 2)
  num_heads: Sequence[int] = (3, 6, 12, 24)
  embed_dim: int = 96
  patch_size: int = 4
  window_size: int = 7
  mlp_ratio: float = 4.0
  num_classes: int = 1000
  drop_rate: float = 0.0
  attn_drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if len(self.depths) != len(self.num_heads):
      raise ValueError(f"Swin needs one head count per stage, got depths {self.depths} and heads {self.num_heads}")
    p = self.patch_size
    if x.ndim != 4 or x.shape[1] < p or x.shape[2] < p:
      raise ValueError(f"Swin takes NHWC images of at least {p}x{p}; got shape {x.shape}")
    x = nn.Conv(self.embed_dim, (p, p), p, padding=0, dtype=self.dtype, name="patch_embed")(x)
    x = LayerNorm(dtype=self.dtype, name="patch_embed_norm")(x)
    x = nn.Dropout(self.drop_rate)(x, deterministic=not train)
    rates = np.linspace(0.0, self.drop_path_rate, sum(self.depths)).tolist()
    stages = []
    for i, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
      if i > 0:
        x = PatchMerging(self.dtype, name=f"merge{i}")(x)
      for j in range(depth):
        x = SwinBlock(heads, self.window_size, j % 2 == 1, self.mlp_ratio, self.drop_rate, self.attn_drop_rate,
                      rates.pop(0), self.dtype, name=f"stage{i}_block{j}")(x, train=train)
      stages.append(x)
    x = LayerNorm(dtype=self.dtype, name="norm")(x)
    pre_logits = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, dtype=self.dtype, kernel_init=weight_init, name="head")(pre_logits)
    logits = logits.astype(jnp.float32)
    if return_features:
      return {"logits": logits, "pre_logits": pre_logits, "stages": tuple(stages)}
    return logits


def _register(name, depths, num_heads, embed_dim):
  register_model(functools.partial(SwinTransformer, depths=depths, num_heads=num_heads, embed_dim=embed_dim),
                 name=name)


_register("swin_tiny_patch4_window7_224", (2, 2, 6, 2), (3, 6, 12, 24), 96)
_register("swin_small_patch4_window7_224", (2, 2, 18, 2), (3, 6, 12, 24), 96)
_register("swin_base_patch4_window7_224", (2, 2, 18, 2), (4, 8, 16, 32), 128)
