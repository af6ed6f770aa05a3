"""archs.costs: MACs against the published per-image figures and against formulas, traced without compiling."""
import math

import flax.linen as nn
import jax.numpy as jnp
import pytest

import archs
from archs import costs

# Published multiply-accumulates per 224x224 image (LITERATURE_CLAIMS.md "Cost and speed"; VanillaNet's README
# calls its MACs "FLOPs"). AlexNet's 0.72 G is the original two-tower network.
PUBLISHED_MACS = {
    ("alexnet_grouped", ()): 0.72e9, ("vgg16", ()): 15.5e9, ("googlenet", ()): 1.5e9, ("resnet18", ()): 1.8e9,
    ("resnet50", ()): 4.1e9, ("mobilenet_v1_100", ()): 0.57e9, ("densenet121", ()): 2.9e9,
    ("convnext_tiny", ()): 4.5e9, ("vanillanet_5", (("deploy", True),)): 5.17e9}


@pytest.mark.parametrize("name,overrides", list(PUBLISHED_MACS), ids=[n for n, _ in PUBLISHED_MACS])
def test_macs_match_the_published_figures(name, overrides):
  cost = costs.profile(name, (1, 224, 224, 3), **dict(overrides))
  published = PUBLISHED_MACS[name, overrides]
  assert abs(cost.macs / published - 1) < 0.05, f"{name}: {cost.macs / 1e9:.3f} G MACs, published {published / 1e9} G"
  # XLA counts a multiply and an add per MAC, but not those on the zero padding, plus the elementwise work.
  assert 1.8 * cost.macs <= cost.flops < 2.3 * cost.macs, f"{name}: XLA {cost.flops:.4g} FLOPs for {cost.macs} MACs"


class GroupedConv(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Conv(64, (3, 3), strides=2, padding=1, feature_group_count=4)(x)
    return nn.Dense(10)(x.reshape(x.shape[0], -1))


def test_macs_of_a_grouped_conv_and_a_dense_layer_equal_the_formula():
  cost = costs.profile(GroupedConv(), (2, 16, 16, 32))
  conv = 2 * 8 * 8 * 64 * (3 * 3 * 32 // 4)
  dense = 2 * (8 * 8 * 64) * 10
  assert cost.macs == conv + dense
  assert cost.params == 3 * 3 * 8 * 64 + 64 + 8 * 8 * 64 * 10 + 10
  assert cost.param_bytes == 4 * cost.params
  assert cost.activation_bytes == 4 * (2 * 8 * 8 * 64 + 2 * 10)


def test_a_scan_body_counts_once_per_step():
  """lstm_tiny: 2 layers of 4 gates, hidden 64, embedding 64, over 35 steps, then the output layer."""
  cost = costs.profile("lstm_tiny", (1, 35))
  per_step = 2 * (64 + 64) * 4 * 64
  assert cost.macs == 35 * per_step + 35 * 64 * 256


def test_vgg16_activation_memory_sums_its_layer_outputs():
  # cs231n's per-layer table (conv and pool outputs, then the FC layers), without the input image.
  convs = [(224, 64)] * 2 + [(112, 128)] * 2 + [(56, 256)] * 3 + [(28, 512)] * 3 + [(14, 512)] * 3
  pools = [(112, 64), (56, 128), (28, 256), (14, 512), (7, 512)]
  values = sum(s * s * c for s, c in convs + pools) + 4096 + 4096 + 1000
  assert costs.profile("vgg16").activation_bytes == 4 * values  # about 61 MB, float32


def test_default_inputs_cover_every_model_and_token_models_get_int32():
  assert costs.default_inputs("resnet50") == (((1, 224, 224, 3), "float32"),)
  assert costs.default_inputs("convnext_tiny") == (((1, 224, 224, 3), "float32"),)
  assert costs.default_inputs("gcn_tiny")[1] == ((156, 2), "int32")
  assert costs.profile("transformer_lm_tiny", (1, 16)).inputs == (((1, 16), "int32"),)
  for name in archs.list_models():
    assert costs.default_inputs(name), name


def test_bad_input_shape_names_it():
  with pytest.raises(ValueError, match=r"input_shape 'big'; accepted"):
    costs.profile("resnet18", "big")
  with pytest.raises(ValueError, match="input_shape is required"):
    costs.profile(GroupedConv())
  assert math.isfinite(costs.profile("mlp").flops)


def test_python_m_archs_prints_and_rewrites_the_readme_table(tmp_path, capsys):
  from archs import __main__ as cli
  cli.main(["lenet5", "--markdown"])
  table = capsys.readouterr().out
  assert "| `lenet5` | lenet | 61,706 | " in table and "| 32x32x1 |" in table
  readme = tmp_path / "README.md"
  readme.write_text(f"intro\n{cli.BEGIN}\nold\n{cli.END}\nafter\n")
  cli.rewrite_readme(str(readme), "new table")
  assert readme.read_text() == f"intro\n{cli.BEGIN}\nnew table\n{cli.END}\nafter\n"
  readme.write_text("no markers")
  with pytest.raises(SystemExit, match="no table markers"):
    cli.rewrite_readme(str(readme), "x")
