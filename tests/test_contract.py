"""The model contract (archs/registry.py) over every registered name: built with the trainer's overrides, each
model keeps the contract and runs one forward, in eval and in train mode, on a tiny input (jax.eval_shape: shapes
and dtypes without compute). A model is tested here the moment it is registered."""
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs import registry
from tests.helpers import model_inputs


def forward_shapes(name):
  """Output shapes of one eval-mode and one train-mode forward, and the parameters, of the model the trainer
  would build (its task's overrides and dtype=bfloat16)."""
  overrides, inputs, _ = model_inputs(name)
  model = archs.create_model(name, **overrides, dtype=jnp.bfloat16)
  assert registry.contract_violations(model) == [], f"{name}: {registry.contract_violations(model)}"
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}

  def run(*xs):  # init in train mode returns the train-mode output too: two traces, not three
    train_out, variables = model.init_with_output(rngs, *xs, train=True)
    return variables["params"], model.apply(variables, *xs, train=False), train_out

  return jax.eval_shape(run, *inputs)


@pytest.mark.parametrize("name", archs.list_models())
def test_every_model_keeps_the_contract_and_runs_forward(name):
  params, eval_out, train_out = forward_shapes(name)
  _, _, expected = model_inputs(name)
  dtypes = {x.dtype for x in jax.tree.leaves(params)}
  assert dtypes == {jnp.dtype(jnp.float32)}, f"{name}: parameters stay float32 with dtype=bfloat16, got {dtypes}"
  for mode, out in (("eval", eval_out), ("train", train_out)):
    leaves = jax.tree.leaves(out)
    assert leaves and all(jnp.issubdtype(x.dtype, jnp.inexact) for x in leaves), f"{name} {mode}: {out}"
    if expected is not None:
      assert out.shape == expected, f"{name} {mode}: output {out.shape}, expected {expected} (overrides applied)"


def test_no_test_model_stays_registered():
  assert not archs.list_models("_*"), f"test-only models left in the registry: {archs.list_models('_*')}"


def test_unregister_removes_a_model():
  registry.register_model(lambda **kw: nn.Dense(2, **kw), name="_test_contract_dense", to_deploy=lambda v: v)
  assert archs.list_models("_test_contract*") == ["_test_contract_dense"]
  registry.unregister_model("_test_contract_dense")
  assert archs.list_models("_test_contract*") == []
  with pytest.raises(archs.UnknownModelError, match="unknown model '_test_contract_dense'"):
    registry.unregister_model("_test_contract_dense")


class Broken(nn.Module):
  num_classes: int = 10
  vocab_size: int = 10

  @nn.compact
  def __call__(self, x, act_lambda=1.0):
    return x


def test_contract_violations_name_each_breach():
  problems = registry.contract_violations(Broken())
  assert len(problems) == 4, problems
  for words in ("'dtype'", "output size fields ['num_classes', 'vocab_size']", "no 'train'", "'act_lambda'"):
    assert any(words in p for p in problems), f"expected a violation naming {words}: {problems}"
  assert registry.contract_violations(archs.create_model("lenet5")) == []


@pytest.mark.parametrize("model, config, flags", [
    ("mlp", "lenet5.py", ["--config.model_kwargs={}"]),
    pytest.param("hyper_lstm_tiny", "lstm.py", ["--config.model_kwargs={'hidden_size': 16}",
                                    "--config.task_kwargs.seq_len=16", "--config.task_kwargs.corpus_chars=4000"],
                 marks=pytest.mark.slow),  # ~25 s: the scanned cell compiles slowly on CPU
])
def test_formerly_broken_models_train_through_main(tmp_path, model, config, flags):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  argv = [sys.executable, "-m", "train.main", "--config", os.path.join(root, "configs", config),
          "--workdir", str(tmp_path), f"--config.model={model}", "--config.num_epochs=1", "--config.batch_size=16",
          "--config.steps_per_call=1", "--config.log_every_steps=1", "--config.checkpoint_every_steps=0",
          "--config.num_devices=1", *flags]
  run = subprocess.run(argv, cwd=root, capture_output=True, text=True)
  assert run.returncode == 0, f"{model} did not train through train.main: {run.stderr[-2000:]}"
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert np.isfinite(summary["eval_loss"]), summary
