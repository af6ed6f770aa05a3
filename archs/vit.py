"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"; timm vision_transformer.py).

The image is cut into P x P patches, each linearly embedded (a P x P conv of stride P); a learned class token is
prepended and learned position embeddings added (Eq. 1); L pre-LN Transformer blocks follow (Eq. 2-3), and the
class token's final LayerNorm'd state feeds the linear head (Eq. 4).
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from archs.layers.attention import MultiHeadAttention
from archs.layers.drop_path import DropPath
from archs.layers.ffn import FeedForward
from archs.registry import register_model

# timm's trunc_normal_(std=.02) truncates at +-2 absolute (~100 sigma): a plain normal in practice.
weight_init = nn.initializers.normal(0.02)
LayerNorm = functools.partial(nn.LayerNorm, epsilon=1e-6)


def resize_position_grid(pos_grid, grid_size: tuple[int, int]):
  """(1, h, w, D) learned position embeddings -> (1, *grid_size, D) by bicubic interpolation.

  The paper's fine-tuning at higher resolution (Sec. 3.2): the pre-trained embeddings are interpolated in 2-D
  according to their position in the image. Identity when the grid already has that size.
  """
  if pos_grid.shape[1:3] == tuple(grid_size):
    return pos_grid
  return jax.image.resize(pos_grid, (1, *grid_size, pos_grid.shape[-1]), method="bicubic")


class EncoderBlock(nn.Module):
  """x + DropPath(MSA(LN(x))); x + DropPath(MLP(LN(x))) (Eq. 2-3). Params 12 d^2 + 13 d for mlp_ratio 4."""
  num_heads: int
  mlp_ratio: float = 4.0
  drop_rate: float = 0.0
  attn_drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    dim = x.shape[-1]
    drop_path = DropPath(self.drop_path_rate)
    y = LayerNorm(dtype=self.dtype, name="norm1")(x)
    y = MultiHeadAttention(self.num_heads, dropout_rate=self.attn_drop_rate, dtype=self.dtype,
                           kernel_init=weight_init, name="attn")(y, train=train)
    y = nn.Dropout(self.drop_rate)(y, deterministic=not train)
    x = x + drop_path(y, train=train)
    y = LayerNorm(dtype=self.dtype, name="norm2")(x)
    y = FeedForward(int(dim * self.mlp_ratio), kind="gelu", dropout_rate=self.drop_rate, dtype=self.dtype,
                    kernel_init=weight_init, name="mlp")(y, train=train)
    y = nn.Dropout(self.drop_rate)(y, deterministic=not train)
    return x + drop_path(y, train=train)


class VisionTransformer(nn.Module):
  """ViT; the position embeddings are learned for `img_size` and interpolated for any other input size.

  `global_pool='token'` classifies from the class token (paper, timm default); 'avg' from the mean patch token.
  Features: `stages` is the final patch-token grid (B, H/P, W/P, D) after the last LayerNorm.
  """
  patch_size: int = 16
  embed_dim: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_ratio: float = 4.0
  img_size: int = 224
  num_classes: int = 1000
  global_pool: str = "token"
  drop_rate: float = 0.0
  attn_drop_rate: float = 0.0
  drop_path_rate: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    if self.global_pool not in ("token", "avg"):
      raise ValueError(f"unknown global_pool {self.global_pool!r}; accepted: 'token', 'avg'")
    p = self.patch_size
    if x.ndim != 4 or x.shape[1] % p or x.shape[2] % p:
      raise ValueError(f"ViT takes NHWC images with sides divisible by patch_size={p}; got shape {x.shape}")
    x = nn.Conv(self.embed_dim, (p, p), p, padding=0, dtype=self.dtype, name="patch_embed")(x)
    b, h, w, d = x.shape
    n = self.img_size // p
    pos = self.param("pos_embed", weight_init, (1, 1 + n * n, d), jnp.float32)
    pos_cls, pos_grid = pos[:, :1], resize_position_grid(pos[:, 1:].reshape(1, n, n, d), (h, w))
    cls = self.param("cls_token", nn.initializers.normal(1e-6), (1, 1, d), jnp.float32)
    x = jnp.concatenate([jnp.broadcast_to(cls + pos_cls, (b, 1, d)).astype(x.dtype),
                         x.reshape(b, h * w, d) + pos_grid.reshape(1, h * w, d).astype(x.dtype)], axis=1)
    x = nn.Dropout(self.drop_rate)(x, deterministic=not train)
    rates = np.linspace(0.0, self.drop_path_rate, self.depth).tolist()
    for i in range(self.depth):
      x = EncoderBlock(self.num_heads, self.mlp_ratio, self.drop_rate, self.attn_drop_rate, rates[i], self.dtype,
                       name=f"block{i}")(x, train=train)
    x = LayerNorm(dtype=self.dtype, name="norm")(x)
    pre_logits = x[:, 0] if self.global_pool == "token" else jnp.mean(x[:, 1:], axis=1)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, kernel_init=weight_init, name="head")(pre_logits)
    logits = logits.astype(jnp.float32)
    if return_features:
      return {"logits": logits, "pre_logits": pre_logits, "stages": (x[:, 1:].reshape(b, h, w, d),)}
    return logits


def _register(name, patch_size, embed_dim, depth, num_heads):
  register_model(functools.partial(VisionTransformer, patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                                   num_heads=num_heads), name=name)


_register("vit_tiny_patch16_224", 16, 192, 12, 3)
_register("vit_small_patch16_224", 16, 384, 12, 6)
_register("vit_base_patch16_224", 16, 768, 12, 12)
_register("vit_large_patch16_224", 16, 1024, 24, 16)
_register("vit_base_patch32_224", 32, 768, 12, 12)
