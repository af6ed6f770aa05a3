"""Static convolutional HyperNetwork (Ha, Dai and Le 2016, "HyperNetworks", section 3.1; g1910/HyperNetworks).

One hypernetwork, shared by every generated layer, maps a learned layer embedding z in R^{N_z} to a
16 x 16 block of f x f kernels: a_i = W_i z + B_i for each input-channel slice i (all W_i stacked in one
matrix), K_i = W_out a_i + B_out, K = concat_i K_i. A kernel of (16 m) x (16 n) channels is tiled from
m x n blocks, each with its own embedding. Hypernetwork parameters N_in d (N_z + 1) + f N_out f (d + 1)
= 75,920 for N_z = d = 64, N_in = N_out = 16, f = 3.

Primary network as g1910's `PrimaryNetwork`: a CIFAR ResNet of 18 basic blocks (16/32/64 channels, the
WRN-40-1 shape), whose 36 3x3 convolutions are generated; the stem conv (with bias), the BatchNorms, the
two strided 1x1 shortcut convs (with bias) and the final FC are ordinary layers. Total 97,882 trainable
parameters: hypernetwork 75,920, 242 embeddings x 64 = 15,488, ordinary layers 6,474.

Kernel layout (`kernel_layout`): 'paper' reads row i of the (N_in, N_out f f) hypernetwork output as the
kernels of input channel i (K = concat_i K_i); 'g1910' reshapes it row-major to (out, in, f, f), so that
row i becomes output channel i. Same count; 'paper' is the default. Initialisation as g1910:
fmod(N(0, 1), 2) for the hypernetwork and the embeddings.

Image classifier contract: NHWC input, `model.apply(variables, x, train=False)` -> logits (B, num_classes),
BatchNorm statistics in `batch_stats`; generated kernels (HWIO) are sown into 'intermediates' at
`block_i/kernel1/kernel` and `block_i/kernel2/kernel` for inspection.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from archs.layers.batch_norm import torch_batch_norm
from archs.layers.features import classifier_output
from archs.registry import register_model
from archs.resnet import BlockFields

KERNEL_LAYOUTS = ("paper", "g1910")


def fmod_normal(key, shape, dtype=jnp.float32):
  """torch.fmod(torch.randn(shape), 2): a standard normal folded into (-2, 2), g1910's initialiser."""
  return jnp.fmod(jax.random.normal(key, shape, dtype), 2.0)


class HyperNetwork(nn.Module):
  """z (..., z_dim) -> kernel blocks (..., f, f, in_size, out_size) in HWIO."""
  z_dim: int = 64
  hidden_dim: int = 64  # d
  in_size: int = 16
  out_size: int = 16
  f_size: int = 3
  kernel_layout: str = "paper"

  @nn.compact
  def __call__(self, z):
    if self.kernel_layout not in KERNEL_LAYOUTS:
      raise ValueError(f"kernel_layout={self.kernel_layout!r}; accepted: {', '.join(KERNEL_LAYOUTS)}")
    f, n_in, n_out, d = self.f_size, self.in_size, self.out_size, self.hidden_dim
    w_slices = self.param("w_slices", fmod_normal, (self.z_dim, n_in * d))  # W_1 .. W_Nin side by side
    b_slices = self.param("b_slices", fmod_normal, (n_in * d,))
    w_out = self.param("w_out", fmod_normal, (d, n_out * f * f))
    b_out = self.param("b_out", fmod_normal, (n_out * f * f,))
    batch = z.shape[:-1]
    a = (z @ w_slices + b_slices).reshape(batch + (n_in, d))  # a_i = W_i z + B_i
    k = a @ w_out + b_out  # K_i = W_out a_i + B_out, (..., N_in, N_out f f)
    if self.kernel_layout == "paper":
      k = k.reshape(batch + (n_in, n_out, f, f))  # row i: input channel i
      perm = (2, 3, 0, 1)
    else:
      k = k.reshape(batch + (n_out, n_in, f, f))  # torch (O, I, kh, kw) reading of the same numbers
      perm = (2, 3, 1, 0)
    nb = len(batch)
    return jnp.transpose(k, tuple(range(nb)) + tuple(nb + p for p in perm))


class GeneratedConv(nn.Module):
  """A 3x3 conv (padding 1, no bias) whose kernel comes from the shared hypernetwork: the layer's embeddings,
  (out_blocks, in_blocks, z_dim), each generate one block of the kernel."""
  hyper: HyperNetwork
  features: int
  strides: int = 1

  @nn.compact
  def __call__(self, x):
    block_in, block_out = self.hyper.in_size, self.hyper.out_size
    in_channels = x.shape[-1]
    if in_channels % block_in or self.features % block_out:
      raise ValueError(f"channels {in_channels}->{self.features}; accepted: multiples of "
                       f"{block_in} (in) and {block_out} (out)")
    n_in, n_out = in_channels // block_in, self.features // block_out
    z = self.param("z", fmod_normal, (n_out, n_in, self.hyper.z_dim))
    blocks = self.hyper(z)  # (n_out, n_in, f, f, block_in, block_out)
    f = blocks.shape[2]
    # Block (o, i) fills output channels 16 o.. and input channels 16 i.., as g1910's nested concat.
    kernel = jnp.transpose(blocks, (2, 3, 1, 4, 0, 5))
    kernel = kernel.reshape(f, f, n_in * block_in, n_out * block_out)
    self.sow("intermediates", "kernel", kernel)
    return jax.lax.conv_general_dilated(x, kernel.astype(x.dtype), (self.strides, self.strides), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


class HyperBasicBlock(BlockFields):
  """g1910 ResNetBlock: act(bn2(conv(act(bn1(conv(x, K1))), K2)) + shortcut(x)), `conv` a GeneratedConv; the
  shortcut, where the shape changes, is an ordinary 1x1 conv with bias."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    residual = x
    if self.strides != 1 or x.shape[-1] != self.filters:
      residual = nn.Conv(self.filters, (1, 1), (self.strides, self.strides), dtype=self.dtype,
                         name="shortcut")(x)
    y = self.act(self.norm(name="bn1")(self.conv(self.filters, self.strides, name="kernel1")(x)))
    y = self.norm(name="bn2")(self.conv(self.filters, name="kernel2")(y))
    return self.act(y + residual)


class HyperResNet(nn.Module):
  """CIFAR ResNet whose 3x3 block convolutions come from one static HyperNetwork."""
  stage_widths: Sequence[int] = (16, 32, 64)
  blocks_per_stage: int = 6
  num_classes: int = 10
  z_dim: int = 64
  hidden_dim: int = 64
  kernel_layout: str = "paper"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = False, return_features: bool = False):
    hyper = HyperNetwork(self.z_dim, self.hidden_dim, kernel_layout=self.kernel_layout, name="hyper")
    conv = functools.partial(GeneratedConv, hyper)
    norm = torch_batch_norm(train, self.dtype)
    x = nn.Conv(self.stage_widths[0], (3, 3), padding=1, dtype=self.dtype, name="stem_conv")(
        x.astype(self.dtype))
    x = nn.relu(norm(name="stem_bn")(x))
    stages, index = [], 0
    for stage, width in enumerate(self.stage_widths):
      for block in range(self.blocks_per_stage):
        stride = 2 if stage > 0 and block == 0 else 1
        x = HyperBasicBlock(width, conv, norm, nn.relu, stride, dtype=self.dtype, name=f"block_{index}")(x)
        index += 1
      stages.append(x)
    pre_logits = jnp.mean(x, axis=(1, 2))  # AvgPool2d(8) on the 8x8 map of 32x32 inputs
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(pre_logits).astype(jnp.float32)
    return classifier_output(logits, pre_logits, stages, return_features)


# The paper's "Hyper Residual Network 40-1" (0.097M) as g1910: 97,882 trainable parameters.
register_model(functools.partial(HyperResNet, stage_widths=(16, 32, 64), blocks_per_stage=6, num_classes=10),
               name="hyper_resnet40_1")
