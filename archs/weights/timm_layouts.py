"""Layouts of timm's state_dicts (timm.create_model; the keys of its Hugging Face checkpoints)."""
import jax

from archs.weights.convert import Layout, Rule, numbered

_RESNET_BLOCKS = (
    Rule(r"fc", "fc"),
    Rule(r"layer(\d)\.(\d+)\.(conv\d|bn\d)", r"layer\1_\2/\3"),
    Rule(r"layer(\d)\.(\d+)\.se\.(fc\d)", r"layer\1_\2/attention/\3"),
    Rule(r"layer(\d)\.(\d+)\.downsample\.0", r"layer\1_\2/downsample/conv"),  # plain 1x1 conv shortcut
    Rule(r"layer(\d)\.(\d+)\.downsample\.1", r"layer\1_\2/downsample/bn"),
)
# Average-pool shortcut: downsample = (AvgPool or Identity, conv, bn).
_AVG_DOWN = (Rule(r"layer(\d)\.(\d+)\.downsample\.1", r"layer\1_\2/downsample/conv"),
             Rule(r"layer(\d)\.(\d+)\.downsample\.2", r"layer\1_\2/downsample/bn"))
# Deep stem: conv1 = (conv, bn, act, conv, bn, act, conv), then bn1.
_DEEP_STEM = (Rule(r"conv1\.0", "stem_conv1"), Rule(r"conv1\.1", "stem_bn1"), Rule(r"conv1\.3", "stem_conv2"),
              Rule(r"conv1\.4", "stem_bn2"), Rule(r"conv1\.6", "stem_conv3"), Rule(r"bn1", "stem_bn3"))

RESNET_D = Layout(source="timm resnet50d", head=("fc",), head_pattern=r"fc\..*",
                  rules=_DEEP_STEM + _AVG_DOWN + _RESNET_BLOCKS)
SERESNET = Layout(source="timm seresnet50", head=("fc",), head_pattern=r"fc\..*",
                  rules=(Rule(r"(conv1|bn1)", r"\1"),) + _RESNET_BLOCKS)
RESNET_RS = Layout(source="timm resnetrs50", head=("fc",), head_pattern=r"fc\..*", rules=(
    _DEEP_STEM + (Rule(r"maxpool\.0", "stem_pool_conv"), Rule(r"maxpool\.1", "stem_pool_bn")) + _AVG_DOWN
    + _RESNET_BLOCKS))

CONVNEXT = Layout(source="timm ConvNeXt", head=("head",), head_pattern=r"head\.fc\..*", rules=(
    Rule(r"stem\.0", "stem_conv"), Rule(r"stem\.1", "stem_norm"),
    Rule(r"stages\.(\d)\.downsample\.0", r"downsample\1_norm"), Rule(r"stages\.(\d)\.downsample\.1", r"downsample\1_conv"),
    Rule(r"stages\.(\d)\.blocks\.(\d+)", r"stage\1_block\2"),
    Rule(r"stages\.(\d)\.blocks\.(\d+)\.conv_dw", r"stage\1_block\2/dwconv"),
    Rule(r"stages\.(\d)\.blocks\.(\d+)\.norm", r"stage\1_block\2/norm"),
    Rule(r"stages\.(\d)\.blocks\.(\d+)\.mlp\.fc(\d)", r"stage\1_block\2/pwconv\3"),
    Rule(r"head\.norm", "head_norm"), Rule(r"head\.fc", "head"),
))

# timm's mobilenetv1_100: blocks.<stage>.<block>.(conv_dw, bn1, conv_pw, bn2), stem conv_stem + bn1, ReLU6.
MOBILENET_V1 = Layout(
    source="timm mobilenetv1", head=("fc",), head_pattern=r"classifier\..*", model_kwargs={"act": jax.nn.relu6},
    note="act=relu6: timm's MobileNet-v1 uses ReLU6 where imgclsmob uses ReLU",
    rules=(
        Rule(r"conv_stem", "stem/conv"), Rule(r"bn1", "stem/bn"),
        *(Rule(rf"blocks\.(\d)\.(\d+)\.{ref}", numbered(f"stage{{}}_block{{}}/{ours}", 1, 1))
          for ref, ours in (("conv_dw", "dw/conv"), ("bn1", "dw/bn"), ("conv_pw", "pw/conv"), ("bn2", "pw/bn"))),
        Rule(r"classifier", "fc"),
    ))

LAYOUTS = {
    "resnet50d": RESNET_D, "seresnet50": SERESNET, "resnetrs50": RESNET_RS, "mobilenet_v1_100": MOBILENET_V1,
    **{f"convnext_{s}": CONVNEXT for s in ("tiny", "small", "base", "large", "xlarge")},
}
