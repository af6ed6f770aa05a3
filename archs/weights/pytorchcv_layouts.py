"""Layouts of pytorchcv's state_dicts (osmr/imgclsmob, `pytorchcv.model_provider.get_model`)."""
import functools

from archs.layers.bam import BAM
from archs.weights.convert import Layout, Rule, flatten_chw, numbered

_HEAD = dict(head=("fc",), head_pattern=r"output\..*")

# conv1..conv5 are stage1.unit1, stage2.unit1, stage3.unit1..3; torch's LRN divides alpha by the window size.
ALEXNET = Layout(
    source="pytorchcv AlexNet/ZFNet", head=("fc8",), head_pattern=r"output\.fc3\..*",
    model_kwargs={"lrn_alpha_over_size": True}, note="lrn_alpha_over_size=True: F.local_response_norm's alpha / n",
    rules=(Rule(r"features\.stage1\.unit1\.conv", "conv1"), Rule(r"features\.stage2\.unit1\.conv", "conv2"),
           Rule(r"features\.stage3\.unit(\d)\.conv", numbered("conv{}", 2)),
           Rule(r"output\.fc1\.fc", "fc6", transform=flatten_chw(256)), Rule(r"output\.fc2\.fc", "fc7"),
           Rule(r"output\.fc3", "fc8")))

MOBILENET_V1 = Layout(source="pytorchcv MobileNet", **_HEAD, rules=(
    Rule(r"features\.init_block\.(conv|bn)", r"stem/\1"),
    Rule(r"features\.stage(\d)\.unit(\d+)\.(dw|pw)_conv\.(conv|bn)", r"stage\1_block\2/\3/\4"),
    Rule(r"output", "fc")))

DENSENET = Layout(source="pytorchcv DenseNet", head=("classifier",), head_pattern=r"output\..*", rules=(
    Rule(r"features\.init_block\.conv", "conv0"), Rule(r"features\.init_block\.bn", "norm0"),
    Rule(r"features\.stage(\d)\.unit(\d+)\.conv(\d)\.bn", r"block\1_layer\2/norm\3"),
    Rule(r"features\.stage(\d)\.unit(\d+)\.conv(\d)\.conv", r"block\1_layer\2/conv\3"),
    Rule(r"features\.stage(\d)\.trans\d\.conv\.bn", numbered("transition{}/norm", -1)),  # opens stage s
    Rule(r"features\.stage(\d)\.trans\d\.conv\.conv", numbered("transition{}/conv", -1)),
    Rule(r"features\.post_activ\.bn", "norm5"), Rule(r"output", "classifier")))

# Pre-activation units: body.convK = BN -> ReLU -> conv; identity_conv sees the pre-activated input.
_PREACT_UNITS = (
    Rule(r"features\.stage(\d)\.unit(\d+)\.body\.conv(\d)\.bn", numbered("{}_{}/bn{}", 0, -1, 0)),
    Rule(r"features\.stage(\d)\.unit(\d+)\.body\.conv(\d)\.conv", numbered("{}_{}/conv{}", 0, -1, 0)),
    Rule(r"features\.stage(\d)\.unit(\d+)\.identity_conv", numbered("{}_{}/shortcut", 0, -1)),
    Rule(r"features\.post_activ\.bn", "final_bn"), Rule(r"output", "fc"))


def _prefixed(rules, prefix):
  """The same rules with our module paths under `prefix` + the numbered target (layer1_0, group0_0)."""
  out = []
  for rule in rules:
    if callable(rule.target):
      target = (lambda t: lambda m: prefix(t(m)))(rule.target)
      out.append(Rule(rule.pattern, target))
    else:
      out.append(rule)
  return tuple(out)


PRERESNET = Layout(
    source="pytorchcv PreResNet", **_HEAD, model_kwargs={"preactivate_first": True},
    note="preactivate_first=True: imgclsmob's first unit pre-activates the already activated stem output again",
    rules=(Rule(r"features\.init_block\.(conv|bn)", r"\g<1>1"),)
    + _prefixed(_PREACT_UNITS, lambda path: "layer" + path))


def _wrn_group(path):  # stage s (from 1) -> group s-1
  stage, rest = path.split("_", 1)
  return f"group{int(stage) - 1}_{rest}"


WRN_CIFAR = Layout(source="pytorchcv WRN (CIFAR)", **_HEAD, input_size=32,
                   rules=(Rule(r"features\.init_block", "conv0"),) + _prefixed(_PREACT_UNITS, _wrn_group))

BAM_RESNET = Layout(
    source="pytorchcv BAM-ResNet", **_HEAD,
    model_kwargs={"stage_attention": functools.partial(BAM, combine="product")},
    note="stage_attention=BAM(combine='product'): the reference code's F * (1 + sigmoid(Mc * Ms))",
    rules=(
        Rule(r"features\.init_block\.conv\.(conv|bn)", r"\g<1>1"),
        Rule(r"features\.stage(\d)\.unit(\d+)\.res_unit\.body\.conv(\d)\.(conv|bn)",
             lambda m: f"layer{m[1]}_{int(m[2]) - 1}/{m[4]}{m[3]}"),
        Rule(r"features\.stage(\d)\.unit(\d+)\.res_unit\.identity_conv\.(conv|bn)",
             lambda m: f"layer{m[1]}_{int(m[2]) - 1}/downsample/{m[3]}"),
        *(Rule(rf"features\.stage(\d)\.unit1\.bam\.{ref}", numbered(f"stage_attention{{}}/{ours}", -1)) for ref, ours in (
            (r"ch_att\.init_fc\.fc", "channel_fc1"), (r"ch_att\.init_fc\.bn", "channel_bn"),
            (r"ch_att\.final_fc", "channel_fc2"), (r"sp_att\.init_conv\.conv", "spatial_reduce"),
            (r"sp_att\.init_conv\.bn", "spatial_reduce_bn"), (r"sp_att\.dil_convs\.conv1\.conv", "spatial_dilated0"),
            (r"sp_att\.dil_convs\.conv1\.bn", "spatial_dilated0_bn"),
            (r"sp_att\.dil_convs\.conv2\.conv", "spatial_dilated1"),
            (r"sp_att\.dil_convs\.conv2\.bn", "spatial_dilated1_bn"), (r"sp_att\.final_conv", "spatial_final"))),
        Rule(r"output", "fc")))



def _fractal_conv(m, num_columns=3):
  """block{position}.subblock{s}: subblock 1 is the deepest column's conv, the last the shallowest's."""
  unit, position, sub = int(m[1]), int(m[2]), int(m[3])
  column = num_columns - sub  # 0-based; column j's convs span depth / 2^j positions
  span = 2 ** (num_columns - 1) // 2 ** column
  return f"block{unit}/col{column + 1}_conv{position // span}/{m[4]}"


FRACTALNET = Layout(source="pytorchcv FractalNet (CIFAR)", **_HEAD, input_size=32, rules=(
    Rule(r"features\.unit(\d)\.block\.blocks\.block(\d)\.subblock(\d)\.(conv|bn)", _fractal_conv),
    Rule(r"output", "fc")))

LAYOUTS = {
    "fractalnet20": FRACTALNET,
    "alexnet": ALEXNET, "zfnet": ALEXNET,
    **{f"mobilenet_v1_{w}": MOBILENET_V1 for w in ("100", "075", "050", "025")},
    **{f"densenet{d}": DENSENET for d in (121, 169, 201, 161)},
    **{f"preact_resnet{d}": PRERESNET for d in (18, 34, 50, 101, 152)},
    **{f"wide_resnet{d}_{k}": WRN_CIFAR for d, k in ((28, 10), (40, 1), (40, 2), (40, 4), (16, 8))},
    **{f"bam_resnet{d}": BAM_RESNET for d in (18, 34, 50)},
}
