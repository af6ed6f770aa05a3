"""`archs` installs alone: the distribution is `archs`, needs only jax, flax and numpy, and ships no top-level
package but `archs` (train/ and configs/ run from the checkout; their dependencies are the [train] extra)."""
import email
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

import archs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY_DEPENDENCIES = {"jax", "flax", "numpy"}


def requirement_name(requirement):
  return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_project_metadata_installs_the_library_alone():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)
  meta = project["project"]
  assert meta["name"] == "archs", "the distribution is named as the import"
  assert {requirement_name(r) for r in meta["dependencies"]} == LIBRARY_DEPENDENCIES, meta["dependencies"]
  assert {"optax", "orbax-checkpoint", "ml-collections", "grain"} <= {
      requirement_name(r) for r in meta["optional-dependencies"]["train"]}, "the training stack is the [train] extra"
  assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["archs", "archs.*"]
  assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "archs.__version__"}
  assert re.fullmatch(r"\d+\.\d+\.\d+", archs.__version__), archs.__version__


@pytest.mark.slow  # ~15 s: pip builds the wheel in an isolated environment
def test_built_wheel_holds_only_archs_and_its_three_dependencies(tmp_path):
  source = tmp_path / "src"
  shutil.copytree(os.path.join(ROOT, "archs"), source / "archs", ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(os.path.join(ROOT, name), source / name)
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                  str(source)], check=True, capture_output=True)
  (wheel,) = (tmp_path / "dist").glob("*.whl")
  dist_info = f"archs-{archs.__version__}.dist-info"
  with zipfile.ZipFile(wheel) as z:
    files = z.namelist()
    metadata = email.message_from_bytes(z.read(f"{dist_info}/METADATA"))
  top_level = {f.split("/")[0] for f in files}
  assert top_level == {"archs", dist_info}, f"the wheel installs {sorted(top_level)}"
  expected = {os.path.relpath(os.path.join(d, f), ROOT) for d, _, fs in os.walk(os.path.join(ROOT, "archs"))
              for f in fs if f.endswith(".py")}
  assert expected <= set(files), f"missing from the wheel: {sorted(expected - set(files))[:5]}"
  assert metadata["Name"] == "archs" and metadata["Version"] == archs.__version__, (metadata["Name"],
                                                                                    metadata["Version"])
  required = {requirement_name(r) for r in metadata.get_all("Requires-Dist") if "extra ==" not in r}
  assert required == LIBRARY_DEPENDENCIES, f"installing archs pulls in {sorted(required)}"
  assert {"train", "test"} <= set(metadata.get_all("Provides-Extra")), metadata.get_all("Provides-Extra")
