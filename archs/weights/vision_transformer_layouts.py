"""Layouts of timm's ViT and Swin and torchvision's Swin state_dicts (archs/vit.py, archs/swin.py).

Both references fuse the attention's input projections into one `qkv` Linear (3D outputs: query, key, value);
it is cut into our three per-head projections first. The per-head reshape of (D, D) kernels to (D, heads, D/heads)
is the converter's equal-size reshape (output unit h * D/heads + i is head h's unit i in both).
"""
import functools
import re

from archs.weights.convert import Layout, Rule, split_fused

_split_qkv = functools.partial(split_fused, fused="qkv", names=("query", "key", "value"))


def _vit_sizes(state_dict) -> dict:
  """img_size from the checkpoint's position table (1 + (img_size / patch)^2 rows): 224, 384, ..."""
  patch = state_dict["patch_embed.proj.weight"].shape[-1]
  grid = int(round((state_dict["pos_embed"].shape[1] - 1) ** 0.5))
  return {"img_size": grid * patch}


def _attention_rules(ref_block: str, our_block, attn: str) -> tuple[Rule, ...]:
  """A pre-LN Transformer block: norm1, split qkv, proj, norm2 and the two MLP Linears (named by the caller)."""
  return (Rule(rf"{ref_block}\.(norm1|norm2)", lambda m: f"{our_block(m)}/{m[m.lastindex]}"),
          Rule(rf"{ref_block}\.attn\.(query|key|value)", lambda m: f"{our_block(m)}/{attn}/{m[m.lastindex]}"),
          Rule(rf"{ref_block}\.attn\.proj", lambda m: f"{our_block(m)}/{attn}/out"))


VIT_TIMM = Layout(
    source="timm VisionTransformer", head=("head",), head_pattern=r"head\..*", prepare=_split_qkv,
    options_from=_vit_sizes, rules=(
        Rule(r"", ""),  # cls_token, pos_embed
        Rule(r"patch_embed\.proj", "patch_embed"),
        *_attention_rules(r"blocks\.(\d+)", lambda m: f"block{m[1]}", "attn"),
        Rule(r"blocks\.(\d+)\.mlp\.fc1", r"block\1/mlp/wi"), Rule(r"blocks\.(\d+)\.mlp\.fc2", r"block\1/mlp/wo"),
        Rule(r"norm", "norm"), Rule(r"head", "head")))

_SWIN_IGNORE = (r".*relative_position_index", r".*attn_mask")  # buffers we compute from the shapes

# timm >= 0.9: layers.<i>.downsample opens stage i (i >= 1); head.fc is the classifier.
SWIN_TIMM = Layout(
    source="timm SwinTransformer", head=("head",), head_pattern=r"head\.fc\..*", prepare=_split_qkv,
    ignore=_SWIN_IGNORE, rules=(
        Rule(r"patch_embed\.proj", "patch_embed"), Rule(r"patch_embed\.norm", "patch_embed_norm"),
        Rule(r"layers\.(\d)\.downsample\.(norm|reduction)", r"merge\1/\2"),
        Rule(r"layers\.(\d)\.blocks\.(\d+)\.attn", r"stage\1_block\2/attn"),  # relative_position_bias_table
        *_attention_rules(r"layers\.(\d)\.blocks\.(\d+)", lambda m: f"stage{m[1]}_block{m[2]}", "attn/attn"),
        Rule(r"layers\.(\d)\.blocks\.(\d+)\.mlp\.fc1", r"stage\1_block\2/mlp/wi"),
        Rule(r"layers\.(\d)\.blocks\.(\d+)\.mlp\.fc2", r"stage\1_block\2/mlp/wo"),
        Rule(r"norm", "norm"), Rule(r"head\.fc", "head")))


def _tv_stage(m: re.Match) -> str:  # features.<2i+1>.<j> is stage i's block j
  return f"stage{(int(m[1]) - 1) // 2}_block{m[2]}"


# torchvision: features.0 = (conv, Permute, LayerNorm); features.<2i+1> stage i's blocks; features.<2i> merges.
SWIN_TORCHVISION = Layout(
    source="torchvision SwinTransformer (v1)", head=("head",), head_pattern=r"head\..*", prepare=_split_qkv,
    ignore=_SWIN_IGNORE, rules=(
        Rule(r"features\.0\.0", "patch_embed"), Rule(r"features\.0\.2", "patch_embed_norm"),
        Rule(r"features\.([2468])\.(norm|reduction)", lambda m: f"merge{int(m[1]) // 2}/{m[2]}"),
        Rule(r"features\.([1357])\.(\d+)\.attn", lambda m: f"{_tv_stage(m)}/attn"),
        *_attention_rules(r"features\.([1357])\.(\d+)", _tv_stage, "attn/attn"),
        Rule(r"features\.([1357])\.(\d+)\.mlp\.0", lambda m: f"{_tv_stage(m)}/mlp/wi"),
        Rule(r"features\.([1357])\.(\d+)\.mlp\.3", lambda m: f"{_tv_stage(m)}/mlp/wo"),
        Rule(r"norm", "norm"), Rule(r"head", "head")))

_VITS = ("vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224", "vit_large_patch16_224",
         "vit_base_patch32_224")
_SWINS = ("swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224", "swin_base_patch4_window7_224")
TIMM_LAYOUTS = {**{name: VIT_TIMM for name in _VITS}, **{name: SWIN_TIMM for name in _SWINS}}
TORCHVISION_LAYOUTS = {name: SWIN_TORCHVISION for name in _SWINS}  # torchvision's swin_t, swin_s, swin_b
