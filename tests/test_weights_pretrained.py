"""load_pretrained from files a test writes (.pth, .safetensors), save/load_variables, and train's init_from."""
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import archs
from tests.weights_parity import randomize, relative_error
from train import defaults, trainer

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("fast_compile")]
SHALLOW = dict(stage_sizes=(1, 1, 1, 1))


def _reference(num_classes=1000, seed=0):
  from torchvision.models import resnet  # noqa: PLC0415
  return randomize(resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1], num_classes=num_classes), seed)


def _outputs(torch_model, model, variables, size=37):
  import torch  # noqa: PLC0415
  x = np.random.default_rng(3).standard_normal((2, 3, size, size)).astype(np.float32)
  with torch.no_grad():
    ref = torch_model(torch.from_numpy(x)).numpy()
  return model.apply(variables, x.transpose(0, 2, 3, 1), train=False), ref


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_file_to_variables_to_npz_round_trip(tmp_path, suffix):
  import torch  # noqa: PLC0415
  from safetensors.torch import save_file  # noqa: PLC0415
  ref_model = _reference()
  path = tmp_path / f"resnet{suffix}"
  if suffix == ".pth":
    torch.save({"model": ref_model.state_dict()}, path)  # nested as training scripts save it
  else:
    save_file({k: v.contiguous() for k, v in ref_model.state_dict().items()}, str(path))
  model, variables = archs.load_pretrained("resnet18", path, **SHALLOW)
  ours, ref = _outputs(ref_model, model, variables)
  assert relative_error(ours, ref) < 1e-4
  archs.save_variables(tmp_path / "converted.npz", variables)
  loaded = archs.load_variables(tmp_path / "converted.npz")
  np.testing.assert_array_equal(model.apply(loaded, np.ones((1, 37, 37, 3), np.float32), train=False),
                                model.apply(variables, np.ones((1, 37, 37, 3), np.float32), train=False))


def test_other_num_classes_gets_a_fresh_head_and_keeps_the_rest(tmp_path):
  import torch  # noqa: PLC0415
  ref_model = _reference()
  torch.save(ref_model.state_dict(), tmp_path / "r.pth")
  _, full = archs.load_pretrained("resnet18", tmp_path / "r.pth", **SHALLOW)
  model, tuned = archs.load_pretrained("resnet18", tmp_path / "r.pth", num_classes=7, **SHALLOW)
  assert model.num_classes == 7 and tuned["params"]["fc"]["kernel"].shape == (512, 7)
  same = jax.tree.map(np.array_equal, {**full["params"], "fc": None}, {**tuned["params"], "fc": None})
  assert all(jax.tree.leaves(same)), "every weight but the classifier's should come from the checkpoint"


def _config(workdir_pth, **changes):
  config = defaults.load_config("resnet50")
  config.model, config.model_kwargs = "resnet18", dict(SHALLOW)
  config.num_epochs, config.batch_size, config.num_devices, config.learning_rate = 1, 479, 1, 0.0
  config.log_every_steps = config.checkpoint_every_steps = 3
  config.log_every_epochs = config.checkpoint_every_epochs = 0  # the steps form instead of the config's epochs
  config.init_from = str(workdir_pth)
  for key, value in changes.items():
    setattr(config, key, value)
  return config


def _final_params(workdir):
  path = os.path.join(workdir, "checkpoints")
  step = max(int(d) for d in os.listdir(path) if d.isdigit())
  return ocp.StandardCheckpointer().restore(os.path.join(path, str(step), "default"))["params"]


@pytest.mark.slow
def test_train_init_from_loads_the_checkpoint_and_resume_wins(tmp_path):
  import torch  # noqa: PLC0415
  first, second = _reference(), _reference(seed=1)
  torch.save(first.state_dict(), tmp_path / "first.pth")
  conv1 = first.conv1.weight.detach().numpy().transpose(2, 3, 1, 0)

  trainer.train_and_evaluate(_config(tmp_path / "first.pth"), str(tmp_path / "run"))
  params = _final_params(tmp_path / "run")  # learning rate 0: the loaded weights, unchanged
  np.testing.assert_array_equal(params["conv1"]["kernel"], conv1)
  assert params["fc"]["kernel"].shape == (512, 10), "digits have 10 classes: a fresh head"

  # The same command again, the file now holding other weights: the run resumes from its checkpoint (a changed
  # init_from path is refused on resume as any changed key is, train/validate.py).
  torch.save(second.state_dict(), tmp_path / "first.pth")
  trainer.train_and_evaluate(_config(tmp_path / "first.pth"), str(tmp_path / "run"))
  np.testing.assert_array_equal(_final_params(tmp_path / "run")["conv1"]["kernel"], conv1)


def test_missing_init_from_is_a_user_error(tmp_path):
  from train import errors  # noqa: PLC0415
  with pytest.raises(errors.UserError, match="init_from='nowhere.pth': no file 'nowhere.pth'"):
    trainer.train_and_evaluate(_config("nowhere.pth"), str(tmp_path))


@pytest.mark.slow
def test_readme_fine_tuning_command(tmp_path):
  """README: fine-tune a torchvision ResNet-50 checkpoint on the digits (here one epoch, random weights)."""
  import subprocess  # noqa: PLC0415
  import sys  # noqa: PLC0415

  import torch  # noqa: PLC0415
  import torchvision  # noqa: PLC0415
  torch.save(torchvision.models.resnet50().state_dict(), tmp_path / "resnet50-11ad3fa6.pth")
  command = [sys.executable, "-m", "train.main", "--config", "configs/resnet50.py", "--workdir", str(tmp_path / "run"),
             f"--config.init_from={tmp_path / 'resnet50-11ad3fa6.pth'}", "--config.num_epochs=1"]
  done = subprocess.run(command, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert done.returncode == 0, done.stderr[-2000:]
  assert (tmp_path / "run" / "summary.json").exists()
