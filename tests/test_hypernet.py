"""Static HyperNetwork: the g1910 counts, the generation formula, the tiling, the kernel shapes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

import archs
from archs.hypernet import GeneratedConv, HyperNetwork, HyperResNet


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.fixture(scope="module")
def abstract_variables():
  model = archs.create_model("hyper_resnet40_1")
  return model, jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


def test_hyper_resnet40_1_counts_match_g1910(abstract_variables):
  _, variables = abstract_variables
  params = variables["params"]
  flat = flatten_dict(params)
  z_count = sum(int(np.prod(x.shape)) for path, x in flat.items() if path[-1] == "z")
  assert _count(params) == 97_882, f"total trainable {_count(params)}, expected 97,882"
  assert _count(params["hyper"]) == 75_920, f"hypernetwork {_count(params['hyper'])}, expected 75,920"
  assert z_count == 15_488, f"embeddings {z_count}, expected 242 x 64 = 15,488"
  rest = _count(params) - 75_920 - 15_488
  # stem conv+bias 448, stem BN 32, block BNs 2688, shortcuts 544 + 2112, FC 650.
  assert rest == 6_474, f"ordinary layers {rest}, expected 6,474"


@pytest.mark.parametrize("z_dim,d,n_in,n_out,f", [(64, 64, 16, 16, 3), (8, 5, 4, 3, 3), (6, 7, 2, 5, 1)])
def test_hypernetwork_count_formula(z_dim, d, n_in, n_out, f):
  hyper = HyperNetwork(z_dim, d, n_in, n_out, f)
  params = jax.eval_shape(hyper.init, jax.random.key(0), jnp.zeros((z_dim,)))["params"]
  expected = n_in * d * (z_dim + 1) + f * n_out * f * (d + 1)
  assert _count(params) == expected, \
      f"hypernetwork params {_count(params)}, expected N_in d (N_z+1) + f N_out f (d+1) = {expected}"


@pytest.mark.parametrize("layout", ["paper", "g1910"])
def test_hypernetwork_matches_two_linear_maps(layout):
  z_dim, d, n_in, n_out, f = 5, 4, 3, 2, 3
  hyper = HyperNetwork(z_dim, d, n_in, n_out, f, kernel_layout=layout)
  z = jax.random.normal(jax.random.key(1), (z_dim,))
  variables = hyper.init(jax.random.key(0), z)
  kernel = np.asarray(hyper.apply(variables, z))
  p = jax.tree.map(np.asarray, variables["params"])
  a = (np.asarray(z) @ p["w_slices"] + p["b_slices"]).reshape(n_in, d)  # a_i = W_i z + B_i
  k = a @ p["w_out"] + p["b_out"]  # K_i = W_out a_i + B_out, row i
  if layout == "paper":
    expected = k.reshape(n_in, n_out, f, f).transpose(2, 3, 0, 1)
  else:  # torch .view(out, in, f, f) of the same (in, out f f) buffer, then OIHW -> HWIO
    expected = k.reshape(n_out, n_in, f, f).transpose(2, 3, 1, 0)
  assert kernel.shape == (f, f, n_in, n_out), f"kernel shape {kernel.shape}, expected HWIO {(f, f, n_in, n_out)}"
  np.testing.assert_allclose(kernel, expected, rtol=1e-5, atol=1e-5,
                             err_msg=f"{layout} kernel != W_out (W_i z + B_i) + B_out")


def test_large_kernel_is_tiled_from_blocks_each_with_its_own_z():
  hyper = HyperNetwork(z_dim=4, hidden_dim=3, in_size=2, out_size=2, f_size=3)
  layer = GeneratedConv(hyper, features=6)
  x = jnp.zeros((1, 3, 3, 4))
  variables = layer.init(jax.random.key(0), x)
  kernel = np.asarray(layer.apply(variables, x, mutable=["intermediates"])[1]["intermediates"]["kernel"][0])
  z = variables["params"]["z"]
  assert z.shape == (3, 2, 4), f"embeddings {z.shape}, expected (out blocks 3, in blocks 2, z_dim 4)"
  hyper_vars = {"params": variables["params"]["hyper"]}
  for o in range(3):
    for i in range(2):
      block = np.asarray(hyper.apply(hyper_vars, z[o, i]))
      np.testing.assert_allclose(kernel[:, :, 2 * i:2 * i + 2, 2 * o:2 * o + 2], block, rtol=1e-6,
                                 err_msg=f"block (out {o}, in {i}) is not hyper(z[{o}, {i}])")


def test_generated_kernel_shapes(abstract_variables):
  model, variables = abstract_variables
  _, state = jax.eval_shape(lambda v, x: model.apply(v, x, mutable=["intermediates"]), variables,
                            jnp.zeros((2, 32, 32, 3)))
  widths = [16] * 6 + [32] * 6 + [64] * 6
  for index, width in enumerate(widths):
    block = state["intermediates"][f"block_{index}"]
    in_width = widths[index - 1] if index else 16
    shapes = block["kernel1"]["kernel"][0].shape, block["kernel2"]["kernel"][0].shape
    expected = (3, 3, in_width, width), (3, 3, width, width)
    assert shapes == expected, f"block_{index} kernels {shapes}, expected {expected}"


def test_tiny_forward_logits_and_batch_stats():
  model = HyperResNet(stage_widths=(16, 32), blocks_per_stage=1, num_classes=10, z_dim=8, hidden_dim=8)
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 3))
  variables = jax.jit(model.init)(jax.random.key(0), x)
  logits, state = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
  assert logits.shape == (2, 10), f"logits {logits.shape}, expected (2, 10)"
  assert np.all(np.isfinite(logits)), "non-finite logits"
  assert "block_1" in state["batch_stats"], "BatchNorm statistics of block_1 missing from batch_stats"
  features = jax.eval_shape(lambda v, x: model.apply(v, x, return_features=True), variables, x)
  assert [s.shape for s in features["stages"]] == [(2, 8, 8, 16), (2, 4, 4, 32)], "stage shapes"
  assert features["pre_logits"].shape == (2, 32), "pre_logits shape"


def test_bad_layout_and_channels_raise():
  with pytest.raises(ValueError, match="kernel_layout"):
    HyperNetwork(kernel_layout="rows").init(jax.random.key(0), jnp.zeros((64,)))
  hyper = HyperNetwork()
  with pytest.raises(ValueError, match="multiples of 16"):
    GeneratedConv(hyper, features=16).init(jax.random.key(0), jnp.zeros((1, 3, 3, 24)))


# --- Dynamic hypernetwork: HyperLSTM (archs/hyper_lstm.py) ---

def _hyper_lstm_formula(vocab, hidden, hyper, n_z):
  """labml HyperLSTMCell(input = hidden) inside embedding -> cell -> linear, parameter by parameter."""
  inner = hyper * 4 * hyper + 4 * hyper + (2 * hidden) * 4 * hyper + 4 * 2 * hyper + 2 * hyper  # LN-LSTM
  z = 2 * (hyper * 4 * n_z + 4 * n_z) + hyper * 4 * n_z  # z_h, z_x with bias; z_b without
  d = 2 * 4 * n_z * hidden + 4 * (n_z * hidden + hidden)  # d_h, d_x without bias; d_b with
  main = 4 * hidden * hidden + 4 * hidden * hidden + 4 * 2 * hidden + 2 * hidden  # w_h, w_x, gate LNs, cell LN
  return inner + z + d + main + vocab * hidden + hidden * vocab + vocab


@pytest.mark.parametrize("name", ["hyper_lstm_tiny", "hyper_lstm"])
def test_hyper_lstm_count_matches_labml_formula(name):
  model = archs.create_model(name)
  params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 3), jnp.int32))["params"]
  expected = _hyper_lstm_formula(model.vocab_size, model.hidden_size, model.hyper_size, model.n_z)
  assert _count(params) == expected, f"{name}: {_count(params)} params, expected {expected} (labml layout)"


def test_hyper_lstm_is_a_causal_language_model():
  from archs.hyper_lstm import HyperLSTMLM
  model = HyperLSTMLM(vocab_size=11, hidden_size=8, hyper_size=4, n_z=3, num_layers=2)
  tokens = jax.random.randint(jax.random.key(0), (2, 6), 0, 11)
  variables = jax.jit(model.init)(jax.random.key(1), tokens)
  # labml starts W_h, W_x at zero; perturb them so every path of the cell is exercised.
  variables = jax.tree_util.tree_map_with_path(
      lambda path, v: v + 0.3 if getattr(path[-1], "key", "") in ("w_h", "w_x") else v, variables)
  apply = jax.jit(model.apply)
  logits = apply(variables, tokens)
  assert logits.shape == (2, 6, 11), f"logits {logits.shape}, expected (B, L, vocab) = (2, 6, 11)"
  changed = apply(variables, tokens.at[:, 4].set((tokens[:, 4] + 1) % 11))
  np.testing.assert_allclose(changed[:, :4], logits[:, :4], rtol=1e-6, err_msg="logits before t depend on token t")
  assert not np.allclose(changed[:, 4:], logits[:, 4:]), "logits from t on should depend on token t"
  with pytest.raises(ValueError, match="tokens"):
    model.apply(variables, tokens[0])
