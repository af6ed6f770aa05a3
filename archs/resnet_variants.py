"""Registered members of the ResNet family that are configurations of `archs.resnet.ResNet`.

- ResNet-D (He et al. 2019, Bag of Tricks): deep 3x3 stem (32, 32, 64) and average-pool shortcut; timm's resnet50d.
- SE-ResNet (Hu et al. 2018): SE (reduction 16, biased FCs) on each block's residual before the sum; timm's
  seresnet50 and Cadene's se_resnet50 have the same 28,088,024 params (Cadene strides the first 1x1 conv instead).
- ResNet-RS (Bello et al. 2021): ResNet-D stem whose max pool is replaced by a 3x3/2 conv, average-pool shortcut,
  SE (biased 1x1 convs) reducing to 1/4 of the block's output channels, dropout 0.25 before the classifier and
  stochastic depth 0.0 for RS-50: the layout of keras.applications.ResNetRS50 (keras/applications/resnet_rs.py)
  and timm's resnetrs50; 35,691,912 params [computed]. Not matched: TF's BN momentum and epsilon (we keep
  torchvision's) and TF's zero-initialised last BN gamma (pass zero_init_last=True).
  The deeper ResNet-RS (101, 152, 200) are the same layout on the deeper stage sizes (keras ResNetRS101/152/200,
  timm's resnetrs101/152/200), with the keras defaults (dropout 0.25, no stochastic depth; the paper adds
  stochastic depth for its larger image sizes: pass drop_path_rate).
- ResNet-200 (He et al. 2016, Identity Mappings, as a post-activation net): stages (3, 24, 36, 3), timm's resnet200.
- ResNeXt at fixed complexity (Xie et al. 2017, Table 3): cardinality x bottleneck width 2x40d, 4x24d, 8x14d,
  32x4d keep the FLOPs of ResNet-50 / ResNet-101 (1x64d) within a few percent; torchvision's ResNet with
  groups / width_per_group.
- Anti-aliased ResNets (Zhang 2019, adobe/antialiased-cnns): BlurPool(4) at every downsampling; parameter-free.
- BAM-ResNets (Park et al. 2018, Jongchan/attention-module): BAM after layer1, layer2 and layer3.
"""
import functools

from archs.layers.bam import BAM
from archs.layers.squeeze_excite import SqueezeExcite
from archs.registry import register_model
from archs.resnet import BasicBlock, Bottleneck, ResNet

DEPTHS = {18: ((2, 2, 2, 2), BasicBlock), 34: ((3, 4, 6, 3), BasicBlock), 50: ((3, 4, 6, 3), Bottleneck),
          101: ((3, 4, 23, 3), Bottleneck), 152: ((3, 8, 36, 3), Bottleneck), 200: ((3, 24, 36, 3), Bottleneck)}


def _register(name, depth, **config):
  stage_sizes, block = DEPTHS[depth]
  register_model(functools.partial(ResNet, stage_sizes=stage_sizes, block=block, **config), name=name)


_register("resnet50d", 50, stem="deep", stem_width=32, avg_down=True)
_register("seresnet50", 50, attention=functools.partial(SqueezeExcite, reduction=16))
for _depth in (50, 101, 152, 200):
  _register(f"resnetrs{_depth}", _depth, stem="deep", stem_width=32, stem_pool="conv", avg_down=True,
            attention=functools.partial(SqueezeExcite, reduction=4), drop_rate=0.25, drop_path_rate=0.0)
_register("resnet200", 200)
for _depth in (50, 101):
  for _groups, _width in ((2, 40), (4, 24), (8, 14), (32, 4)):
    if (_depth, _groups) != (50, 32):  # resnext50_32x4d is torchvision's, in archs/resnet.py
      _register(f"resnext{_depth}_{_groups}x{_width}d", _depth, groups=_groups, width=_width)
for _depth in (18, 34, 50, 101):
  _register(f"resnet{_depth}_blur", _depth, blur_filter_size=4)
for _depth in (18, 34, 50):
  _register(f"bam_resnet{_depth}", _depth, stage_attention=BAM)
