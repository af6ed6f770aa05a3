"""The registry's contract: names, overrides, errors, and what `import archs` pulls in."""
import json
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


SPY_ON_REGISTRATION = """
import importlib, json, pkgutil, sys
import archs
from archs import registry
assert not [m for m in sys.modules if m.split('.')[-1] in registry.MODEL_FILES], 'import archs imported a model file'
home, register = {}, registry.register_model

def spy(fn=None, *, name=None, to_deploy=None):
  file = sys._getframe(1).f_globals['__name__']
  def record(f):
    home[name or f.__name__] = file
    return register(f, name=name, to_deploy=to_deploy)
  return record(fn) if fn is not None else record

registry.register_model = spy
for info in pkgutil.iter_modules(archs.__path__):  # every file, eagerly, as `import archs` once did
  if not info.name.startswith('_') and info.name not in ('registry', 'layers', 'losses'):
    importlib.import_module('archs.' + info.name)
print(json.dumps(home))
"""


def test_model_files_index_equals_what_importing_every_file_registers():
  out = subprocess.run([sys.executable, "-c", SPY_ON_REGISTRATION], capture_output=True, text=True, check=True)
  registered = json.loads(out.stdout)
  index = {name: f"archs.{file}" for file, names in registry.MODEL_FILES.items() for name in names}
  assert registered == index, (f"registry.MODEL_FILES is stale: missing {sorted(set(registered) - set(index))}, "
                               f"wrong or extra {sorted(k for k in index if registered.get(k) != index[k])}")


def test_building_one_model_imports_only_its_file():
  code = ("import sys, archs; archs.create_model('lenet5'); from archs import registry; "
          "print(sorted(m for m in sys.modules if m.split('.')[-1] in registry.MODEL_FILES))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out.strip() == "['archs.lenet']", f"create_model('lenet5') imported {out.strip()}"


def test_model_files_are_attributes_of_the_package():
  assert archs.transformer.greedy_decode and archs.losses.softmax_cross_entropy
  with pytest.raises(AttributeError, match="no attribute 'resnet_v9'"):
    archs.resnet_v9


def test_built_in_names_stay_registered():
  with pytest.raises(ValueError, match="'lenet5' is built in"):
    registry.unregister_model("lenet5")
