"""Layouts of torchvision's state_dicts (torchvision.models, the same keys as its published checkpoints)."""
from archs.vgg import VGG_STAGES
from archs.weights.convert import Layout, Rule, flatten_chw

SOURCE = "torchvision"

RESNET = Layout(source="torchvision ResNet", head=("fc",), head_pattern=r"fc\..*", rules=(
    Rule(r"(conv1|bn1|fc)", r"\1"),
    Rule(r"layer(\d)\.(\d+)\.(conv\d|bn\d)", r"layer\1_\2/\3"),
    Rule(r"layer(\d)\.(\d+)\.downsample\.0", r"layer\1_\2/downsample/conv"),
    Rule(r"layer(\d)\.(\d+)\.downsample\.1", r"layer\1_\2/downsample/bn"),
))


def _vgg(stages, batch_norm: bool) -> Layout:
  rules, index = [], 0
  for s, widths in enumerate(stages, start=1):
    for i, _ in enumerate(widths, start=1):
      rules.append(Rule(rf"features\.{index}", f"conv{s}_{i}"))
      if batch_norm:
        rules.append(Rule(rf"features\.{index + 1}", f"bn{s}_{i}"))
      index += 3 if batch_norm else 2  # conv [bn] relu
    index += 1  # max pool
  rules += [Rule(r"classifier\.0", "fc6", transform=flatten_chw(512)), Rule(r"classifier\.3", "fc7"),
            Rule(r"classifier\.6", "fc8")]
  return Layout(source="torchvision VGG", rules=tuple(rules), head=("fc8",), head_pattern=r"classifier\.6\..*")


DENSENET = Layout(source="torchvision DenseNet", head=("classifier",), head_pattern=r"classifier\..*", rules=(
    Rule(r"features\.(conv0|norm0|norm5)", r"\1"),
    Rule(r"features\.denseblock(\d)\.denselayer(\d+)\.(norm1|conv1|norm2|conv2)", r"block\1_layer\2/\3"),
    Rule(r"features\.transition(\d)\.(norm|conv)", r"transition\1/\2"),
    Rule(r"classifier", "classifier"),
))

CONVNEXT = Layout(source="torchvision ConvNeXt", head=("head",), head_pattern=r"classifier\.2\..*", rules=(
    Rule(r"features\.0\.0", "stem_conv"), Rule(r"features\.0\.1", "stem_norm"),
    *(rule for i in range(4) for rule in (
        Rule(rf"features\.{2 * i + 1}\.(\d+)", rf"stage{i}_block\1", leaves={"layer_scale": "gamma"}),
        Rule(rf"features\.{2 * i + 1}\.(\d+)\.block\.0", rf"stage{i}_block\1/dwconv"),
        Rule(rf"features\.{2 * i + 1}\.(\d+)\.block\.2", rf"stage{i}_block\1/norm"),
        Rule(rf"features\.{2 * i + 1}\.(\d+)\.block\.3", rf"stage{i}_block\1/pwconv1"),
        Rule(rf"features\.{2 * i + 1}\.(\d+)\.block\.5", rf"stage{i}_block\1/pwconv2"))),
    *(rule for i in range(1, 4) for rule in (
        Rule(rf"features\.{2 * i}\.0", f"downsample{i}_norm"), Rule(rf"features\.{2 * i}\.1", f"downsample{i}_conv"))),
    Rule(r"classifier\.0", "head_norm"), Rule(r"classifier\.2", "head"),
))

_INCEPTION = {"branch1": "branch1", r"branch2\.0": "branch2_reduce", r"branch2\.1": "branch2",
              r"branch3\.0": "branch3_reduce", r"branch3\.1": "branch3", r"branch4\.1": "branch4"}
GOOGLENET = Layout(
    source="torchvision GoogLeNet", head=("fc", "aux1_head/fc2", "aux2_head/fc2"),
    head_pattern=r"(fc|aux\d\.fc2)\..*", model_kwargs={"transform_input": True},
    note="transform_input=True: torchvision's ImageNet weights expect its re-normalisation of the input",
    rules=(
        Rule(r"(conv\d)\.(conv|bn)", r"\1/\2"),
        *(Rule(rf"inception(\w\w)\.{ref}\.(conv|bn)", rf"inception\1/{ours}/\2") for ref, ours in _INCEPTION.items()),
        Rule(r"(aux\d)\.conv\.(conv|bn)", r"\1_head/conv/\2"),
        Rule(r"(aux\d)\.fc1", r"\1_head/fc1", transform=flatten_chw(128)),
        Rule(r"(aux\d)\.fc2", r"\1_head/fc2"),
        Rule(r"fc", "fc"),
    ))

LAYOUTS = {
    **{name: RESNET for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                                 "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2")},
    **{f"vgg{d}": _vgg(VGG_STAGES[c], False) for d, c in ((11, "A"), (13, "B"), (16, "D"), (19, "E"))},
    **{f"vgg{d}_bn": _vgg(VGG_STAGES[c], True) for d, c in ((11, "A"), (13, "B"), (16, "D"), (19, "E"))},
    **{f"densenet{d}": DENSENET for d in (121, 169, 201, 161)},
    **{f"convnext_{s}": CONVNEXT for s in ("tiny", "small", "base", "large")},
    "googlenet": GOOGLENET,
}
