"""The preprocessing each known checkpoint expects, keyed by the hub name `load_pretrained` takes.

From torchvision's weight enums (`Weights.transforms()`: resize, centre crop, interpolation, mean/std) and timm's
pretrained_cfg per tag (input size, crop_pct, interpolation, mean/std); tests/test_weights_preprocessing.py checks
every entry against the installed torchvision and timm. torchvision's V1 and V2 weights differ: V2 resizes to 232
(ResNet-50) before the 224 crop, so its crop_pct is 224 / 232, not V1's 224 / 256.
Entry: (family, file name (torchvision's download; timm's is its cache name), input size, crop_pct, interpolation,
(mean, std) of [0, 1] pixels).
"""
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
TV, TIMM = "torchvision", "timm"

CHECKPOINTS = {
    "torchvision:ConvNeXt_Base_Weights.IMAGENET1K_V1": (TV, "convnext_base-6075fbad.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "hf-hub:timm/convnext_base.clip_laion2b": (TIMM, None, 256, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laion2b_augreg": (TIMM, None, 256, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laion2b_augreg_ft_in1k": (TIMM, None, 256, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laion2b_augreg_ft_in12k": (TIMM, None, 256, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laion2b_augreg_ft_in12k_in1k": (TIMM, None, 256, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laion2b_augreg_ft_in12k_in1k_384": (TIMM, None, 384, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laiona": (TIMM, None, 256, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laiona_320": (TIMM, None, 320, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laiona_augreg_320": (TIMM, None, 320, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.clip_laiona_augreg_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", CLIP),
    "hf-hub:timm/convnext_base.fb_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_base.fb_in22k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_base.fb_in22k_ft_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_base.fb_in22k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "torchvision:ConvNeXt_Large_Weights.IMAGENET1K_V1": (TV, "convnext_large-ea097f82.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "hf-hub:timm/convnext_large.fb_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_large.fb_in22k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_large.fb_in22k_ft_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_large.fb_in22k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "torchvision:ConvNeXt_Small_Weights.IMAGENET1K_V1": (TV, "convnext_small-0c510722.pth", 224, 224 / 230, "bilinear", IMAGENET),
    "hf-hub:timm/convnext_small.fb_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_small.fb_in22k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_small.fb_in22k_ft_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_small.fb_in22k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_small.in12k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_small.in12k_ft_in1k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_small.in12k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "torchvision:ConvNeXt_Tiny_Weights.IMAGENET1K_V1": (TV, "convnext_tiny-983f1562.pth", 224, 224 / 236, "bilinear", IMAGENET),
    "hf-hub:timm/convnext_tiny.fb_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_tiny.fb_in22k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_tiny.fb_in22k_ft_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_tiny.fb_in22k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_tiny.in12k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_tiny.in12k_ft_in1k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_tiny.in12k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_xlarge.fb_in22k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_xlarge.fb_in22k_ft_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/convnext_xlarge.fb_in22k_ft_in1k_384": (TIMM, None, 384, 1.0, "bicubic", IMAGENET),
    "torchvision:DenseNet121_Weights.IMAGENET1K_V1": (TV, "densenet121-a639ec97.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:DenseNet161_Weights.IMAGENET1K_V1": (TV, "densenet161-8d451a50.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:DenseNet169_Weights.IMAGENET1K_V1": (TV, "densenet169-b2777c0a.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:DenseNet201_Weights.IMAGENET1K_V1": (TV, "densenet201-c1103571.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:GoogLeNet_Weights.IMAGENET1K_V1": (TV, "googlenet-1378be20.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "hf-hub:timm/mobilenetv1_100.ra4_e3600_r224_in1k": (TIMM, None, 224, 0.875, "bicubic", INCEPTION),
    "torchvision:ResNet101_Weights.IMAGENET1K_V1": (TV, "resnet101-63fe2227.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNet101_Weights.IMAGENET1K_V2": (TV, "resnet101-cd907fc2.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "torchvision:ResNet152_Weights.IMAGENET1K_V1": (TV, "resnet152-394f9c45.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNet152_Weights.IMAGENET1K_V2": (TV, "resnet152-f82ba261.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "torchvision:ResNet18_Weights.IMAGENET1K_V1": (TV, "resnet18-f37072fd.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNet34_Weights.IMAGENET1K_V1": (TV, "resnet34-b627a593.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNet50_Weights.IMAGENET1K_V1": (TV, "resnet50-0676ba61.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNet50_Weights.IMAGENET1K_V2": (TV, "resnet50-11ad3fa6.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "hf-hub:timm/resnet50d.a1_in1k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/resnet50d.a2_in1k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/resnet50d.a3_in1k": (TIMM, None, 160, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/resnet50d.gluon_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/resnet50d.ra2_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "hf-hub:timm/resnet50d.ra4_e3600_r224_in1k": (TIMM, None, 224, 0.95, "bicubic", INCEPTION),
    "hf-hub:timm/resnetrs50.tf_in1k": (TIMM, None, 160, 0.91, "bicubic", IMAGENET),
    "torchvision:ResNeXt101_32X8D_Weights.IMAGENET1K_V1": (TV, "resnext101_32x8d-8ba56ff5.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNeXt101_32X8D_Weights.IMAGENET1K_V2": (TV, "resnext101_32x8d-110c445d.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "torchvision:ResNeXt50_32X4D_Weights.IMAGENET1K_V1": (TV, "resnext50_32x4d-7cdf4587.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:ResNeXt50_32X4D_Weights.IMAGENET1K_V2": (TV, "resnext50_32x4d-1a0047aa.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "hf-hub:timm/seresnet50.a1_in1k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/seresnet50.a2_in1k": (TIMM, None, 224, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/seresnet50.a3_in1k": (TIMM, None, 160, 0.95, "bicubic", IMAGENET),
    "hf-hub:timm/seresnet50.ra2_in1k": (TIMM, None, 224, 0.875, "bicubic", IMAGENET),
    "torchvision:Swin_B_Weights.IMAGENET1K_V1": (TV, "swin_b-68c6b09e.pth", 224, 224 / 238, "bicubic", IMAGENET),
    "hf-hub:timm/swin_base_patch4_window7_224.ms_in1k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "hf-hub:timm/swin_base_patch4_window7_224.ms_in22k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "hf-hub:timm/swin_base_patch4_window7_224.ms_in22k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "torchvision:Swin_S_Weights.IMAGENET1K_V1": (TV, "swin_s-5e29d889.pth", 224, 224 / 246, "bicubic", IMAGENET),
    "hf-hub:timm/swin_small_patch4_window7_224.ms_in1k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "hf-hub:timm/swin_small_patch4_window7_224.ms_in22k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "hf-hub:timm/swin_small_patch4_window7_224.ms_in22k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "torchvision:Swin_T_Weights.IMAGENET1K_V1": (TV, "swin_t-704ceda3.pth", 224, 224 / 232, "bicubic", IMAGENET),
    "hf-hub:timm/swin_tiny_patch4_window7_224.ms_in1k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "hf-hub:timm/swin_tiny_patch4_window7_224.ms_in22k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "hf-hub:timm/swin_tiny_patch4_window7_224.ms_in22k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", IMAGENET),
    "torchvision:VGG11_Weights.IMAGENET1K_V1": (TV, "vgg11-8a719046.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG11_BN_Weights.IMAGENET1K_V1": (TV, "vgg11_bn-6002323d.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG13_Weights.IMAGENET1K_V1": (TV, "vgg13-19584684.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG13_BN_Weights.IMAGENET1K_V1": (TV, "vgg13_bn-abd245e5.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG16_Weights.IMAGENET1K_V1": (TV, "vgg16-397923af.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG16_Weights.IMAGENET1K_FEATURES": (TV, "vgg16_features-amdegroot-88682ab5.pth", 224, 224 / 256, "bilinear", ((0.48235, 0.45882, 0.40784), (0.00392157, 0.00392157, 0.00392157))),
    "torchvision:VGG16_BN_Weights.IMAGENET1K_V1": (TV, "vgg16_bn-6c64b313.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG19_Weights.IMAGENET1K_V1": (TV, "vgg19-dcbb9e9d.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:VGG19_BN_Weights.IMAGENET1K_V1": (TV, "vgg19_bn-c79401a0.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "hf-hub:timm/vit_base_patch16_224.augreg2_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch16_224.augreg_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch16_224.augreg_in21k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch16_224.augreg_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch16_224.bamboo": (TIMM, None, 224, 1.0, "bicubic", CLIP),
    "hf-hub:timm/vit_base_patch16_224.orig_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch16_224.sam_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch32_224.augreg_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch32_224.augreg_in21k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch32_224.augreg_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_base_patch32_224.sam_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_large_patch16_224.augreg_in21k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_large_patch16_224.augreg_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_small_patch16_224.augreg_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_small_patch16_224.augreg_in21k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_small_patch16_224.augreg_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_tiny_patch16_224.augreg_in21k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "hf-hub:timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k": (TIMM, None, 224, 0.9, "bicubic", INCEPTION),
    "torchvision:Wide_ResNet101_2_Weights.IMAGENET1K_V1": (TV, "wide_resnet101_2-32ee1156.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:Wide_ResNet101_2_Weights.IMAGENET1K_V2": (TV, "wide_resnet101_2-d733dc28.pth", 224, 224 / 232, "bilinear", IMAGENET),
    "torchvision:Wide_ResNet50_2_Weights.IMAGENET1K_V1": (TV, "wide_resnet50_2-95faca4d.pth", 224, 224 / 256, "bilinear", IMAGENET),
    "torchvision:Wide_ResNet50_2_Weights.IMAGENET1K_V2": (TV, "wide_resnet50_2-9ba9bcbe.pth", 224, 224 / 232, "bilinear", IMAGENET),
}

_BY_FILE = {entry[1]: key for key, entry in CHECKPOINTS.items() if entry[1]}


def checkpoint_key(source) -> str | None:
  """The table's key for `source`: a hub name as is, or a file named as torchvision's download or our hub cache
  names it ('resnet50-11ad3fa6.pth', 'timm--resnet50d.ra2_in1k.safetensors'); None for any other file."""
  text = str(source)
  if text in CHECKPOINTS:
    return text
  name = text.replace("\\", "/").rsplit("/", 1)[-1]
  if name in _BY_FILE:
    return _BY_FILE[name]
  hub = "hf-hub:" + name.removesuffix(".safetensors").replace("--", "/", 1)
  return hub if name.endswith(".safetensors") and hub in CHECKPOINTS else None


def preprocessing(key: str, channels: int = 3) -> dict:
  """The ModelInfo fields of the checkpoint `key` of CHECKPOINTS."""
  _, _, size, crop_pct, interpolation, (mean, std) = CHECKPOINTS[key]
  return {"input_size": ((size, size, channels),), "crop_pct": crop_pct, "interpolation": interpolation,
          "mean": mean, "std": std, "checkpoint": key}
