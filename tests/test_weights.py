"""The weight converter's conventions and checks, torch-free saving of variables, and each checkpoint's
preprocessing record (no torch needed)."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.weights import ConversionError, Layout, Rule, convert_state_dict
from archs.weights.files import resolve_source

PREPROCESSING = ("input_size", "crop_pct", "interpolation", "mean", "std", "checkpoint")


class Tiny(nn.Module):
  """conv (2 groups) -> BN -> flatten -> Linear, named as a torch module would be."""

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Conv(4, (3, 2), padding=0, feature_group_count=2, name="conv")(x)
    x = nn.BatchNorm(use_running_average=not train, epsilon=1e-5, name="bn")(x)
    return nn.Dense(3, name="fc")(x.reshape(x.shape[0], -1))


LAYOUT = Layout(rules=(Rule(r"features\.0", "conv"), Rule(r"features\.1", "bn"), Rule("fc", "fc")), source="tiny")
X = np.random.default_rng(0).standard_normal((2, 5, 4, 6)).astype(np.float32)  # NHWC


def _state_dict():
  rng = np.random.default_rng(1)
  return {
      "features.0.weight": rng.standard_normal((4, 3, 3, 2)).astype(np.float32),  # O, I/groups, kh, kw
      "features.0.bias": rng.standard_normal(4).astype(np.float32),
      "features.1.weight": rng.uniform(0.5, 1.5, 4).astype(np.float32),
      "features.1.bias": rng.standard_normal(4).astype(np.float32),
      "features.1.running_mean": rng.standard_normal(4).astype(np.float32),
      "features.1.running_var": rng.uniform(1e-4, 2, 4).astype(np.float32),
      "features.1.num_batches_tracked": np.array(7),
      "fc.weight": rng.standard_normal((3, 3 * 3 * 4)).astype(np.float32),  # (out, in); in = our NHWC flatten
      "fc.bias": rng.standard_normal(3).astype(np.float32),
  }


def _target():
  return jax.eval_shape(lambda: Tiny().init(jax.random.key(0), X))


def _torch_semantics(sd):
  """The tiny network as torch defines its layers: grouped cross-correlation, BN with running stats, x W^T + b."""
  w, (n, h, wd, c) = sd["features.0.weight"], X.shape
  out = np.zeros((n, h - 2, wd - 1, 4))
  for o in range(4):
    g = o // 2
    for ky in range(3):
      for kx in range(2):
        patch = X[:, ky:ky + h - 2, kx:kx + wd - 1, 3 * g:3 * g + 3]
        out[..., o] += patch @ w[o, :, ky, kx]
  out += sd["features.0.bias"]
  out = (out - sd["features.1.running_mean"]) / np.sqrt(sd["features.1.running_var"] + 1e-5)
  out = out * sd["features.1.weight"] + sd["features.1.bias"]
  return out.reshape(n, -1) @ sd["fc.weight"].T + sd["fc.bias"]


def test_conventions_give_torch_outputs():
  sd = _state_dict()
  variables = convert_state_dict(sd, _target(), LAYOUT)
  ours = np.asarray(Tiny().apply(variables, X))
  np.testing.assert_allclose(ours, _torch_semantics(sd), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("features.1.running_var"), "left unset: batch_stats/bn/var"),
    (lambda sd: sd.update({"head.weight": np.zeros((3, 3))}), "no rule maps: head.weight"),
    (lambda sd: sd.update({"fc.extra": np.zeros(3)}), "map to no leaf of ours: fc.extra -> params/fc/extra"),
    (lambda sd: sd.update({"fc.bias": np.zeros(4)}), "shape mismatches: fc.bias (4,) -> params/fc/bias (3,)"),
])
def test_partial_loads_are_errors_naming_the_tensor(change, message):
  sd = _state_dict()
  change(sd)
  with pytest.raises(ConversionError, match=message.replace("(", r"\(").replace(")", r"\)")):
    convert_state_dict(sd, _target(), LAYOUT)


def test_head_left_to_the_caller_when_skipped():
  sd = _state_dict()
  layout = Layout(rules=LAYOUT.rules, head=("fc",), head_pattern=r"fc\..*")
  flat = archs.weights.convert.flatten(convert_state_dict(sd, _target(), layout, skip_head=True))
  assert sorted(flat) == ["batch_stats/bn/mean", "batch_stats/bn/var", "params/bn/bias", "params/bn/scale",
                          "params/conv/bias", "params/conv/kernel"]


def test_save_and_load_variables_round_trip(tmp_path):
  variables = Tiny().init(jax.random.key(0), X)
  archs.save_variables(tmp_path / "v.npz", variables)
  loaded = archs.load_variables(tmp_path / "v.npz")
  assert jax.tree.structure(loaded) == jax.tree.structure(variables)
  np.testing.assert_array_equal(Tiny().apply(loaded, X), Tiny().apply(variables, X))


def test_offline_hub_source_names_the_file_to_place(tmp_path, monkeypatch):
  monkeypatch.setenv("ARCHS_CACHE", str(tmp_path))
  with pytest.raises(OSError, match=f"place that file at {tmp_path}/resnet18.pth"):
    resolve_source("http://127.0.0.1:9/resnet18.pth")  # port 9 (discard): refused, as offline


def test_unknown_source_and_model_without_converter_are_one_line_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="not a hub name"):
    archs.load_pretrained("resnet18", str(tmp_path / "missing.pth"))
  with pytest.raises(ValueError, match="'lenet5' has no weight converter"):
    archs.load_pretrained("lenet5", "x.pth")


def test_load_pretrained_from_npz_state_dict_without_torch(tmp_path):
  """A reference state_dict saved as .npz converts with no torch at all (here: our tiny model's own keys)."""
  rng = np.random.default_rng(0)
  target = jax.eval_shape(lambda: archs.create_model("resnet18", stage_sizes=(1, 1, 1, 1), num_classes=5).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
  sd = {}
  for path, leaf in archs.weights.convert.flatten(target).items():
    collection, *module, name = path.split("/")
    torch_module = ".".join(module).replace("_", ".").replace("downsample.conv", "downsample.0").replace(
        "downsample.bn", "downsample.1")
    shape = leaf.shape[::-1] if name == "kernel" and len(leaf.shape) == 2 else (
        (leaf.shape[3], leaf.shape[2], *leaf.shape[:2]) if name == "kernel" else leaf.shape)
    torch_name = {"kernel": "weight", "scale": "weight", "mean": "running_mean", "var": "running_var"}.get(name, name)
    sd[f"{torch_module}.{torch_name}"] = rng.standard_normal(shape).astype(np.float32)
  np.savez(tmp_path / "sd.npz", **sd)
  model, variables = archs.load_pretrained("resnet18", tmp_path / "sd.npz", stage_sizes=(1, 1, 1, 1))
  assert model.num_classes == 5  # the checkpoint's class count
  np.testing.assert_array_equal(variables["params"]["fc"]["kernel"], sd["fc.weight"].T)
  np.testing.assert_array_equal(variables["batch_stats"]["layer2_0"]["downsample"]["bn"]["var"],
                                sd["layer2.0.downsample.1.running_var"])


def test_pretrained_info_knows_each_checkpoints_preprocessing():
  """torchvision's V1 and V2 ResNet-50 weights differ (resize 256 vs 232 before the 224 crop); a file named as the
  download gets its checkpoint's record; any other file the model's reference record."""
  v1 = archs.pretrained_info("resnet50", "torchvision:ResNet50_Weights.IMAGENET1K_V1")
  v2 = archs.pretrained_info("resnet50", "torchvision:ResNet50_Weights.IMAGENET1K_V2")
  assert (v1.crop_pct, v2.crop_pct) == (224 / 256, 224 / 232) and v1.interpolation == v2.interpolation == "bilinear"
  assert archs.pretrained_info("resnet50", "/cache/resnet50-11ad3fa6.pth") == v2, "V2's download file name"
  timm_vit = archs.pretrained_info("vit_base_patch16_224", "hf-hub:timm/vit_base_patch16_224.augreg2_in21k_ft_in1k")
  assert (timm_vit.mean, timm_vit.crop_pct, timm_vit.interpolation) == ((0.5,) * 3, 0.9, "bicubic")
  assert archs.pretrained_info("convnext_tiny", "timm--convnext_tiny.in12k_ft_in1k_384.safetensors").input_size == (
      (384, 384, 3),), "the cache name of an hf-hub download, a 384 checkpoint"
  vgg = archs.pretrained_info("vgg16", "torchvision:VGG16_Weights.IMAGENET1K_FEATURES")
  np.testing.assert_allclose(vgg.std, 1 / 255, rtol=1e-6, err_msg="amdegroot's features: 0..255 pixels")
  reference = archs.model_info("resnet50")
  assert archs.pretrained_info("resnet50", "my_resnet.pth") == reference and reference.checkpoint is None
  assert v2.checkpoint == "torchvision:ResNet50_Weights.IMAGENET1K_V2"
  assert dataclasses.replace(v2, **{f: getattr(reference, f) for f in PREPROCESSING}) == reference, \
      "only the preprocessing fields differ from the model's record"


def test_save_variables_keeps_the_record_and_load_variables_ignores_it(tmp_path):
  variables = {"params": {"fc": {"kernel": np.ones((2, 3), np.float32)}}}
  record = archs.pretrained_info("resnet50", "torchvision:ResNet50_Weights.IMAGENET1K_V2")
  archs.save_variables(tmp_path / "r.npz", variables, info=record)
  archs.save_variables(tmp_path / "plain.npz", variables)
  assert archs.pretrained_info("resnet50", tmp_path / "r.npz") == record
  assert archs.pretrained_info("resnet50", tmp_path / "plain.npz") == archs.model_info("resnet50")
  loaded = archs.load_variables(tmp_path / "r.npz")
  assert jax.tree.structure(loaded) == jax.tree.structure(variables), "the record is no variable"


def test_train_preprocesses_as_the_init_from_checkpoint_and_export_records_it():
  """init_from='torchvision:ResNet50_Weights.IMAGENET1K_V2': the eval crop is V2's 224 of 232, not the reference
  record's 0.875; the exported record is what the run used."""
  from train import data, defaults, pipeline  # noqa: PLC0415
  config = defaults.load_config("resnet50")
  config.model, config.dataset, config.image_size = "resnet50", "imagenette", 160
  scratch = pipeline.ImageTransform(config.aug, 160, 3, "imagenette", False, "resnet50")
  assert scratch.aug["crop_pct"] == archs.model_info("resnet50").crop_pct == 0.875, "from scratch: the reference's"
  config.init_from = "torchvision:ResNet50_Weights.IMAGENET1K_V2"
  tuned = pipeline.ImageTransform(config.aug, 160, 3, "imagenette", False, "resnet50", True, config.init_from)
  assert tuned.aug["crop_pct"] == 224 / 232 and tuned.mean == archs.model_info("resnet50").mean
  vgg = pipeline.preprocessing(config.aug, None, "vgg16", True, "torchvision:VGG16_Weights.IMAGENET1K_FEATURES")
  np.testing.assert_allclose(vgg["std"], 1 / 255, rtol=1e-6, err_msg="that checkpoint's own statistics")
  record = data.preprocessing_record(config)
  assert (record.crop_pct, record.mean, record.input_size) == (224 / 232, tuned.mean, ((160, 160, 3),))
  config.dataset = "digits"
  assert data.preprocessing_record(config) is None, "digits are 8x8 arrays standardised at load: no pixel record"
