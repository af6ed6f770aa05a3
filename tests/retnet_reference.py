"""torchscale 0.3's RetNetDecoder (microsoft/torchscale architecture/retnet.py, component/multiscale_retention.py),
re-typed from its equations for the parity tests where torchscale is not installed (it is not on the local package
index CI installs from); tests/test_weights_sequence.py checks it against torchscale itself where torchscale is.

Same state_dict keys. Pre-norm layers x + MSR(RMSNorm(x)), x + GLU(RMSNorm(x)); no embedding scale; gelu GLU.
Retention, parallel: D~ = D / sqrt(row sums of D), R = (Q K^T) * D~, each row of R divided by max(|its sum|, 1).
Recurrent: the state S_n = gamma S_{n-1} + k_n^T v_n is read as S_n / sqrt(c_n), c_n = gamma c_{n-1} + 1, no clamp.
"""
import torch
from torch import nn


class RMSNorm(nn.Module):
  def __init__(self, dim, eps=1e-6, affine=True):
    super().__init__()
    self.eps = eps
    self.weight = nn.Parameter(torch.ones(dim)) if affine else None

  def forward(self, x):
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
    return x if self.weight is None else x * self.weight


class RelPos(nn.Module):
  def __init__(self, key_dim, heads):
    super().__init__()
    self.register_buffer("angle", (1.0 / 10000 ** torch.linspace(0, 1, key_dim // 2)).repeat_interleave(2))
    self.register_buffer("decay", torch.log(1 - 2.0 ** (-5 - torch.arange(heads, dtype=torch.float))))


def _rotate(x, positions, angle):
  """x cos(n theta) + (-x_odd, x_even interleaved) sin(n theta) on the last axis; positions (L,)."""
  turned = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)
  phase = positions[:, None] * angle[None, :]
  return x * torch.cos(phase) + turned * torch.sin(phase)


class Retention(nn.Module):
  def __init__(self, dim, value_dim, heads, eps):
    super().__init__()
    self.heads, self.key_dim, self.head_dim = heads, dim // heads, value_dim // heads
    for name, out in (("q", dim), ("k", dim), ("v", value_dim), ("g", value_dim)):
      setattr(self, f"{name}_proj", nn.Linear(dim, out, bias=False))
    self.out_proj = nn.Linear(value_dim, dim, bias=False)
    self.group_norm = RMSNorm(self.head_dim, eps, affine=False)

  def forward(self, x, positions, rel_pos, state=None):
    b, length, _ = x.shape
    split = lambda a, d: a.view(b, length, self.heads, d).transpose(1, 2)  # (B, H, L, d)
    q = _rotate(split(self.q_proj(x), self.key_dim), positions, rel_pos.angle)
    k = _rotate(split(self.k_proj(x) * self.key_dim ** -0.5, self.key_dim), positions, rel_pos.angle)
    v = split(self.v_proj(x), self.head_dim)
    gamma = rel_pos.decay.exp()[:, None, None]  # (H, 1, 1)
    if state is None:  # parallel, positions 0..L-1
      n = positions
      d = torch.where(n[:, None] >= n[None, :], gamma ** (n[:, None] - n[None, :]).clamp(min=0), 0.0)
      scores = (q @ k.transpose(-1, -2)) * (d / d.sum(-1, keepdim=True).sqrt())
      scores = scores / scores.sum(-1, keepdim=True).abs().clamp(min=1)
      out = scores @ v
    else:  # recurrent, one token; state = (S, c) per layer, updated in place
      s, c = state.get("s", 0.0), state.get("c", torch.zeros_like(gamma))
      state["s"] = s = gamma * s + k.transpose(-1, -2) @ v
      state["c"] = c = gamma * c + 1
      out = (q @ s) / c.sqrt()
    out = self.group_norm(out.transpose(1, 2)).reshape(b, length, -1)
    return self.out_proj(nn.functional.silu(self.g_proj(x)) * out)


class GLU(nn.Module):
  def __init__(self, dim, ffn_dim):
    super().__init__()
    self.fc1, self.gate = nn.Linear(dim, ffn_dim, bias=False), nn.Linear(dim, ffn_dim, bias=False)
    self.fc2 = nn.Linear(ffn_dim, dim, bias=False)

  def forward(self, x):
    return self.fc2(nn.functional.gelu(self.fc1(x)) * self.gate(x))


class Layer(nn.Module):
  def __init__(self, dim, value_dim, ffn_dim, heads, eps):
    super().__init__()
    self.retention = Retention(dim, value_dim, heads, eps)
    self.retention_layer_norm, self.final_layer_norm = RMSNorm(dim, eps), RMSNorm(dim, eps)
    self.ffn = GLU(dim, ffn_dim)

  def forward(self, x, positions, rel_pos, state=None):
    x = x + self.retention(self.retention_layer_norm(x), positions, rel_pos, state)
    return x + self.ffn(self.final_layer_norm(x))


class RetNetDecoder(nn.Module):
  """`forward(tokens)`: parallel logits; `forward(tokens, states)`: one recurrent step per call of one token at
  position len(states' steps), `states` a list of per-layer dicts kept by the caller (empty dicts at first)."""

  def __init__(self, vocab_size, dim, value_dim, ffn_dim, layers, heads, eps=1e-6):
    super().__init__()
    self.embed_tokens = nn.Embedding(vocab_size, dim)
    self.layers = nn.ModuleList(Layer(dim, value_dim, ffn_dim, heads, eps) for _ in range(layers))
    self.layer_norm = RMSNorm(dim, eps)
    self.retnet_rel_pos = RelPos(dim // heads, heads)
    self.output_projection = nn.Linear(dim, vocab_size, bias=False)

  def forward(self, tokens, states=None, position=0):
    x = self.embed_tokens(tokens)
    positions = torch.arange(tokens.shape[1], dtype=torch.float) + position
    for i, layer in enumerate(self.layers):
      x = layer(x, positions, self.retnet_rel_pos, None if states is None else states[i])
    return self.output_projection(self.layer_norm(x))
