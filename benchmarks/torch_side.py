"""The PyTorch side of the benchmark: the same architecture from torchvision/timm (or re-typed below where neither
has it), the same batch and dtype, a train step of SGD-momentum + cross-entropy, eager and `torch.compile`.

Imported only when torch is importable (`pip install -e ".[bench]"`); archs and train never import it.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn


class LeNet5(nn.Module):
  """archs.lenet: conv5 -> scaled tanh -> avgpool, x2, conv5 -> FC 84 -> FC classes."""

  def __init__(self, num_classes):
    super().__init__()
    self.c1, self.c3, self.c5 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5), nn.Conv2d(16, 120, 5)
    self.f6, self.out = nn.Linear(120, 84), nn.Linear(84, num_classes)

  def forward(self, x):
    act = lambda v: 1.7159 * torch.tanh(2.0 / 3.0 * v)
    x = nn.functional.avg_pool2d(act(self.c1(x)), 2)
    x = nn.functional.avg_pool2d(act(self.c3(x)), 2)
    return self.out(act(self.f6(act(self.c5(x)).flatten(1))))


class SeriesActivationDeploy(nn.Module):
  """huawei-noah/VanillaNet activation, deploy form: ReLU -> depthwise (2n+1)^2 conv with bias."""

  def __init__(self, dim, act_num=3):
    super().__init__()
    self.conv = nn.Conv2d(dim, dim, 2 * act_num + 1, padding=act_num, groups=dim)

  def forward(self, x):
    return self.conv(torch.relu(x))


class VanillaNetDeploy(nn.Module):
  """VanillaNet deploy form (the authors' models/vanillanet.py, deploy=True): stem conv4x4/4 -> act, then per
  stage conv1x1 -> maxpool 2 -> act, then average pool -> conv1x1 classifier."""

  def __init__(self, num_classes, dims=(512, 1024, 2048, 4096)):
    super().__init__()
    layers = [nn.Conv2d(3, dims[0], 4, 4), SeriesActivationDeploy(dims[0])]
    for d_in, d_out in zip(dims[:-1], dims[1:]):
      layers += [nn.Conv2d(d_in, d_out, 1), nn.MaxPool2d(2), SeriesActivationDeploy(d_out)]
    self.features = nn.Sequential(*layers)
    self.cls = nn.Conv2d(dims[-1], num_classes, 1)

  def forward(self, x):
    x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
    return self.cls(x).flatten(1)


class CausalTransformerLM(nn.Module):
  """Post-LN decoder-only Transformer LM with tied embeddings, the size and dropout (0.1) of archs.transformer's."""

  def __init__(self, vocab_size, d_model, num_heads, d_ff, num_layers, max_len=2048, dropout=0.1):
    super().__init__()
    self.embed, self.pos = nn.Embedding(vocab_size, d_model), nn.Embedding(max_len, d_model)
    layer = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout=dropout, batch_first=True)
    self.stack = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)

  def forward(self, tokens):
    length = tokens.shape[1]
    x = self.embed(tokens) + self.pos(torch.arange(length, device=tokens.device))
    mask = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device)
    return self.stack(x, mask=mask, is_causal=True) @ self.embed.weight.T


class Seq2SeqTransformer(nn.Module):
  """archs.transformer.Transformer base (post-LN, tied embeddings): source and target of the same tokens."""

  def __init__(self, vocab_size, d_model=512, num_heads=8, d_ff=2048, num_layers=6, max_len=2048, dropout=0.1):
    super().__init__()
    self.embed, self.pos = nn.Embedding(vocab_size, d_model), nn.Embedding(max_len, d_model)
    self.core = nn.Transformer(d_model, num_heads, num_layers, num_layers, d_ff, dropout=dropout, batch_first=True)

  def forward(self, tokens):
    length = tokens.shape[1]
    x = self.embed(tokens) + self.pos(torch.arange(length, device=tokens.device))
    mask = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device)
    return self.core(x, x, tgt_mask=mask, tgt_is_causal=True) @ self.embed.weight.T


class LSTMLM(nn.Module):
  """archs.lstm.LSTMLanguageModel: embedding -> stacked LSTM -> linear."""

  def __init__(self, vocab_size, hidden, layers):
    super().__init__()
    self.embed, self.lstm = nn.Embedding(vocab_size, hidden), nn.LSTM(hidden, hidden, layers, batch_first=True)
    self.out = nn.Linear(hidden, vocab_size)

  def forward(self, tokens):
    return self.out(self.lstm(self.embed(tokens))[0])


def build(name: str, num_classes: int, vocab_size: int):
  """(torch model, kind) for one of our model names, or (None, reason) when there is no counterpart."""
  import timm
  import torchvision
  if name == "lenet5":
    return LeNet5(num_classes), "image"
  if name in ("resnet18", "resnet50", "vgg16", "densenet121", "mobilenet_v2"):
    return getattr(torchvision.models, name)(num_classes=num_classes), "image"
  if name in ("convnext_tiny", "convnext_small", "resnext50_32x4d"):
    return timm.create_model(name, num_classes=num_classes), "image"
  if name == "vanillanet_5":
    return VanillaNetDeploy(num_classes), "image"
  if name == "transformer_lm_tiny":
    return CausalTransformerLM(vocab_size, 64, 4, 128, 2), "tokens"
  if name in ("transformer_lm_base", "retnet_base"):  # RetNet against a Transformer of the same width and depth
    return CausalTransformerLM(vocab_size, 512, 8, 2048, 6), "tokens"
  if name == "transformer_base":
    return Seq2SeqTransformer(vocab_size), "tokens"
  if name == "lstm_tiny":
    return LSTMLM(vocab_size, 64, 2), "tokens"
  return None, f"no PyTorch counterpart for {name!r} in benchmarks/torch_side.py"


def _median_seconds(call, calls: int, windows: int, sync, clock: str = "wall") -> float:
  now, times = {"wall": time.perf_counter, "cpu": time.process_time}[clock], []
  for _ in range(windows):
    sync()
    t0 = now()
    for _ in range(calls):
      call()
    sync()
    times.append((now() - t0) / calls)
  return float(np.median(times))


def measure(name: str, *, batch: int, image: int, seq_len: int, channels: int, num_classes: int, vocab_size: int,
            dtype: str, compiled: bool, calls: int, windows: int, clock: str = "wall") -> dict:
  """{'train_per_s', 'infer_per_s', 'compile_s'} of one model in one mode, or {'skipped': reason}."""
  model, kind = build(name, num_classes, vocab_size)
  if model is None:
    return {"skipped": kind}
  cuda = torch.cuda.is_available()
  device = torch.device("cuda" if cuda else "cpu")
  sync = torch.cuda.synchronize if cuda else (lambda: None)
  model = model.to(device)
  gen = torch.Generator().manual_seed(0)
  if kind == "image":
    x = torch.randn(batch, channels, image, image, generator=gen).to(device)
    y = torch.randint(0, num_classes, (batch,), generator=gen).to(device)
    if cuda:  # channels_last: the layout cuDNN's fastest convolutions use
      model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
  else:
    x = torch.randint(0, vocab_size, (batch, seq_len), generator=gen).to(device)
    y = torch.randint(0, vocab_size, (batch, seq_len), generator=gen).to(device)
  amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")
  opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
  forward = torch.compile(model) if compiled else model

  def train_step():
    with amp:
      logits = forward(x)
      loss = nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()

  model.train()
  t0 = time.perf_counter()
  train_step()
  sync()
  first = time.perf_counter() - t0
  train_s = _median_seconds(train_step, calls, windows, sync, clock)
  first -= _median_seconds(train_step, 1, 1, sync)  # compile time in wall time, as ours
  model.eval()

  def infer():
    with torch.no_grad(), amp:
      forward(x)

  infer()
  infer_s = _median_seconds(infer, calls, windows, sync, clock)
  single = x[:1]

  def infer_one():
    with torch.no_grad(), amp:
      forward(single)

  infer_one()
  latency_s = _median_seconds(infer_one, calls, windows, sync, clock)
  tokens = seq_len if kind == "tokens" else 0
  del forward, model, opt
  if cuda:  # hand the cached blocks back: JAX's next model shares the device
    torch.cuda.empty_cache()
  return {"train_per_s": batch / train_s, "train_tokens_per_s": tokens * batch / train_s,
          "infer_per_s": batch / infer_s, "latency_ms": 1e3 * latency_s, "compile_s": max(0.0, first)}
