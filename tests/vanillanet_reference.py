"""A PyTorch VanillaNet written from the authors' model definition (huawei-noah/VanillaNet models/vanillanet.py),
as a test fixture: the same module names, so its state_dict has the keys of the authors' checkpoints.

Train form: stem1 = (conv4x4, BN), leaky_relu(act_learn), stem2 = (conv1x1, BN, series activation); each stage
conv1 = (1x1, BN), leaky_relu, conv2 = (1x1, BN), max pool (or adaptive), activation; cls1 = (global average
pool, dropout, conv1x1, BN), leaky_relu, cls2 = (conv1x1). Deploy form (after the authors' switch_to_deploy):
stem = (conv4x4, activation with bias), stage = conv1x1, pool, activation with bias; cls = (pool, dropout, conv1x1).
The series activation is ReLU, then a depthwise (2n+1)^2 conv, then BN (eps 1e-6) or, deployed, a bias.
"""
import torch
from torch import nn
from torch.nn import functional as F


class SeriesActivation(nn.Module):
  def __init__(self, dim, act_num=3, deploy=False):
    super().__init__()
    self.deploy, self.act_num = deploy, act_num
    self.weight = nn.Parameter(0.02 * torch.randn(dim, 1, 2 * act_num + 1, 2 * act_num + 1))
    if deploy:
      self.bias = nn.Parameter(torch.zeros(dim))
    else:
      self.bn = nn.BatchNorm2d(dim, eps=1e-6)

  def forward(self, x):
    y = F.conv2d(F.relu(x), self.weight, self.bias if self.deploy else None, padding=self.act_num,
                 groups=self.weight.shape[0])
    return y if self.deploy else self.bn(y)


class Stage(nn.Module):
  def __init__(self, dim, dim_out, act_num, stride, deploy, ada_pool=0):
    super().__init__()
    self.deploy, self.act_learn = deploy, 1.0
    if deploy:
      self.conv = nn.Conv2d(dim, dim_out, 1)
    else:
      self.conv1 = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim, eps=1e-6))
      self.conv2 = nn.Sequential(nn.Conv2d(dim, dim_out, 1), nn.BatchNorm2d(dim_out, eps=1e-6))
    if stride == 1:
      self.pool = nn.Identity()
    else:
      self.pool = nn.AdaptiveMaxPool2d(ada_pool) if ada_pool else nn.MaxPool2d(stride)
    self.act = SeriesActivation(dim_out, act_num, deploy)

  def forward(self, x):
    x = self.conv(x) if self.deploy else self.conv2(F.leaky_relu(self.conv1(x), self.act_learn))
    return self.act(self.pool(x))


class VanillaNet(nn.Module):
  def __init__(self, dims, strides, num_classes=1000, act_num=3, deploy=False, ada_pool=None, drop_rate=0.0):
    super().__init__()
    self.deploy, self.act_learn = deploy, 1.0
    stride, padding = (3, 1) if ada_pool else (4, 0)
    if deploy:
      self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride, padding), SeriesActivation(dims[0], act_num, True))
      self.cls = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Dropout(drop_rate), nn.Conv2d(dims[-1], num_classes, 1))
    else:
      self.stem1 = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride, padding), nn.BatchNorm2d(dims[0], eps=1e-6))
      self.stem2 = nn.Sequential(nn.Conv2d(dims[0], dims[0], 1), nn.BatchNorm2d(dims[0], eps=1e-6),
                                 SeriesActivation(dims[0], act_num))
      self.cls1 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Dropout(drop_rate), nn.Conv2d(dims[-1], num_classes, 1),
                                nn.BatchNorm2d(num_classes, eps=1e-6))
      self.cls2 = nn.Sequential(nn.Conv2d(num_classes, num_classes, 1))
    self.stages = nn.ModuleList(
        Stage(dims[i], dims[i + 1], act_num, s, deploy, ada_pool[i] if ada_pool else 0) for i, s in enumerate(strides))

  def change_act(self, act_learn):
    """The deep-training lambda: 0 is ReLU, 1 the identity (the authors' change_act)."""
    self.act_learn = act_learn
    for stage in self.stages:
      stage.act_learn = act_learn

  def forward(self, x):
    x = self.stem(x) if self.deploy else self.stem2(F.leaky_relu(self.stem1(x), self.act_learn))
    for stage in self.stages:
      x = stage(x)
    x = self.cls(x) if self.deploy else self.cls2(F.leaky_relu(self.cls1(x), self.act_learn))
    return x.flatten(1)
