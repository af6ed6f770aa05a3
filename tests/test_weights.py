"""The weight converter's conventions and checks, and torch-free saving of variables (no torch needed)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.weights import ConversionError, Layout, Rule, convert_state_dict
from archs.weights.files import resolve_source


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
