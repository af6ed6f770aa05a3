"""Logit parity with the VanillaNet authors' model (re-typed in tests/vanillanet_reference.py), both forms.

The train form at several deep-training lambdas (act_lambda here, act_learn there), the deploy form, and
the adaptive-pool variant; widths scaled down (width_multiplier; the layout does not depend on width).
"""
import numpy as np
import pytest

import archs
from archs.weights import layouts
from tests.weights_parity import randomize, relative_error, state_dict_numpy

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("fast_compile")]
TOL = 1e-4
V5 = dict(dims=[32, 64, 128, 256], strides=[2, 2, 2])  # vanillanet_5 at width 1/16


def _parity(name, family, reference, size, act_lambda=1.0, **overrides):
  import torch  # noqa: PLC0415
  randomize(reference)
  model, variables = archs.weights.from_state_dict(name, state_dict_numpy(reference),
                                                   layouts.for_model(name)[family], **overrides)
  x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
  if hasattr(reference, "change_act"):
    reference.change_act(act_lambda)
  with torch.no_grad():
    ref = reference(torch.from_numpy(x)).numpy()
  ours = model.apply(variables, x.transpose(0, 2, 3, 1), train=False, act_lambda=act_lambda)
  return relative_error(ours, ref)


@pytest.mark.parametrize("act_lambda", [0.0, 0.37, 1.0])
def test_train_form_at_any_lambda(act_lambda):
  from tests.vanillanet_reference import VanillaNet  # noqa: PLC0415
  err = _parity("vanillanet_5", "vanillanet", VanillaNet(**V5, num_classes=10), 72, act_lambda,
                width_multiplier=1 / 16)
  assert err < TOL, f"lambda {act_lambda}: max relative logit error {err:.2e}"


def test_deploy_form():
  from tests.vanillanet_reference import VanillaNet  # noqa: PLC0415
  err = _parity("vanillanet_5", "vanillanet_deploy", VanillaNet(**V5, num_classes=10, deploy=True), 72,
                width_multiplier=1 / 16)
  assert err < TOL, f"deploy form: max relative logit error {err:.2e}"


def test_load_pretrained_picks_the_form_from_the_keys(tmp_path):
  import torch  # noqa: PLC0415
  from tests.vanillanet_reference import VanillaNet  # noqa: PLC0415
  torch.save(VanillaNet(**V5, num_classes=10, deploy=True).state_dict(), tmp_path / "deploy.pth")
  model, _ = archs.load_pretrained("vanillanet_5", tmp_path / "deploy.pth", width_multiplier=1 / 16)
  assert model.deploy and model.num_classes == 10


@pytest.mark.slow
@pytest.mark.parametrize("deploy", [False, True])
def test_ada_pool_variant(deploy):
  from tests.vanillanet_reference import VanillaNet  # noqa: PLC0415
  units = (1, 1, 2, 4, 4, 4, 4, 4, 4, 4, 8, 8)
  reference = VanillaNet(dims=[16 * u for u in units], strides=[1, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1], num_classes=10,
                         ada_pool=[0, 38, 19, 0, 0, 0, 0, 0, 0, 10, 0], deploy=deploy)
  err = _parity("vanillanet_13_x1_5_ada_pool", "vanillanet_deploy" if deploy else "vanillanet", reference, 224,
                0.5 if not deploy else 1.0, width_multiplier=1 / 48)
  print(f"vanillanet_13_x1_5_ada_pool deploy={deploy}: {err:.2e}")
  assert err < TOL, f"max relative logit error {err:.2e}"
