"""notebooks/colab.ipynb runs top to bottom on the CPU with the embedded digits (its parameters cell replaced)."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _with_parameters(nb, **values):
  """Papermill's convention: a cell after the one tagged `parameters` overrides its values."""
  index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
  nb.cells.insert(index + 1, nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in values.items())))
  return nb


def test_colab_notebook_runs_on_the_embedded_digits(tmp_path):
  nb = nbformat.read(os.path.join(ROOT, "notebooks", "colab.ipynb"), as_version=4)
  # LeNet-5 for ConvNeXt: the same cells, a minute less of CPU (ConvNeXt on digits is tested in test_configs).
  nb = _with_parameters(nb, CONFIG="lenet5", DATASET="digits", IMAGE_SIZE=32, NUM_EPOCHS=1, BATCH_SIZE=128,
                        WORKDIR=str(tmp_path / "run"))
  client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}})
  client.execute()
  outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
  assert "eval_accuracy" in outputs and "lenet5 in a hand-written loop" in outputs, outputs[-2000:]
