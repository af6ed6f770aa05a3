"""The registry's contract: names, overrides, errors, and what `import archs` pulls in."""
import subprocess
import sys

import flax.linen as nn
import pytest

import archs
from archs import registry


def test_list_models_is_sorted_and_filters_by_pattern():
  names = archs.list_models()
  assert names == sorted(names) and len(names) == len(set(names))
  for pattern in ("resnet*", "*_tiny", "lenet?"):
    assert archs.list_models(pattern) == [n for n in names if __import__("fnmatch").fnmatchcase(n, pattern)]


def test_every_registered_name_builds_a_linen_module():
  for name in archs.list_models():
    assert isinstance(archs.create_model(name), nn.Module), name


def test_unknown_name_lists_the_closest():
  with pytest.raises(archs.UnknownModelError, match=r"unknown model 'lenet6'.*closest: .*lenet5"):
    archs.create_model("lenet6")


def test_override_replaces_a_field_and_unknown_field_is_named():
  assert archs.create_model("lenet5", num_classes=7).num_classes == 7
  with pytest.raises(archs.UnknownModelError, match=r"no field 'num_clases'.*accepted: .*num_classes"):
    archs.create_model("lenet5", num_clases=7)


def test_register_twice_is_an_error():
  with pytest.raises(ValueError, match="registered twice"):
    registry.register_model(lambda: None, name="lenet5")


def test_import_archs_needs_only_jax_flax_numpy():
  code = ("import sys, archs; bad = [m for m in ('train', 'tensorflow_datasets', 'grain', 'orbax', 'optax', "
          "'tensorflow', 'torch') if m in sys.modules]; print(bad)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out.strip() == "[]", f"import archs pulled in {out.strip()}"
