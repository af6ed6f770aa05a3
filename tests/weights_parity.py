"""Shared by the weights tests: randomised reference models and the parity measure (torch imported by callers)."""
import numpy as np

import archs
from archs.weights import layouts


def randomize(torch_model, seed: int = 0, linear_fan_in: bool = False):
  """Random 1-D parameters and BatchNorm statistics, a quarter of the channels with variance 1e-4..1e-2 (eps matters).

  Those channels' BN weights are scaled by sqrt(var + eps), so that the gain stays near 1: a gain of ~100 per layer
  would amplify float rounding chaotically through a deep network. A wrong eps still changes them by up to 5%.
  Learned tokens and tables (ViT's cls_token and pos_embed, Swin's relative position bias) are drawn from N(0, 0.5).
  `linear_fan_in`: every Linear weight from N(0, 1/fan_in), so that attention logits are O(1) and a wrong query/key
  split shows (with timm's std 0.02 attention is nearly uniform).
  """
  import torch  # noqa: PLC0415
  rng = np.random.default_rng(seed)
  with torch.no_grad():
    for name, p in torch_model.named_parameters():
      if p.ndim <= 1 or name.endswith("layer_scale") or name.endswith("gamma"):
        low, high = (0.5, 1.5) if name.endswith(("weight", "layer_scale", "gamma")) else (-0.3, 0.3)
        p.copy_(torch.from_numpy(rng.uniform(low, high, p.shape).astype(np.float32)))
      elif name.endswith(("cls_token", "pos_embed", "relative_position_bias_table")):
        p.copy_(torch.from_numpy(rng.normal(0, 0.5, p.shape).astype(np.float32)))
    for module in torch_model.modules():
      if linear_fan_in and isinstance(module, torch.nn.Linear):
        fan_in = module.weight.shape[1]
        module.weight.copy_(torch.from_numpy(rng.normal(0, fan_in ** -0.5, module.weight.shape).astype(np.float32)))
    for module in torch_model.modules():
      if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
        c = module.running_var.shape[0]
        var = rng.uniform(0.5, 2.0, c)
        small = rng.permutation(c)[: max(1, c // 4)]
        var[small] = 10.0 ** rng.uniform(-4, -2, small.size)
        module.running_var.copy_(torch.from_numpy(var.astype(np.float32)))
        if module.weight is not None:  # keep the gain of those channels near 1: deep nets stay tame, eps still counts
          gain = np.ones(c, np.float32)
          gain[small] = np.sqrt(var[small] + module.eps)
          module.weight.mul_(torch.from_numpy(gain))
        module.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, c).astype(np.float32)))
  return torch_model.eval()


def state_dict_numpy(torch_model) -> dict:
  return {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}


def relative_error(ours, ref) -> float:
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  assert ours.shape == ref.shape, f"output shapes differ: ours {ours.shape}, reference {ref.shape}"
  return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def image_parity(name, family, torch_model, size, seed=0, batch=2, *, linear_fan_in=False, **overrides) -> float:
  """max|ours - ref| / max|ref| of the converted model on one random NCHW batch, float32 eval mode."""
  import torch  # noqa: PLC0415
  randomize(torch_model, seed, linear_fan_in)
  model, variables = archs.weights.from_state_dict(name, state_dict_numpy(torch_model), layouts.for_model(name)[family],
                                           **overrides)
  x = np.random.default_rng(seed + 1).standard_normal((batch, 3, size, size)).astype(np.float32)
  with torch.no_grad():
    ref = torch_model(torch.from_numpy(x))
  ref = ref.logits if hasattr(ref, "logits") else ref
  ours = model.apply(variables, x.transpose(0, 2, 3, 1), train=False)
  return relative_error(ours, ref.numpy())
