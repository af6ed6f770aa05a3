"""LSTM encoder-decoder (Sutskever et al. 2014): parameter count, source reversal, source padding."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs import create_model
from archs.lstm_seq2seq import reverse_real_tokens


def count(model, src_len=3):
  tokens = jnp.zeros((1, src_len), jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), tokens, tokens)
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))


def test_sutskever_model_has_the_papers_384m_parameters():
  """Sec. 3.4: 160k x 1000 + 80k x 1000 embeddings, 8 LSTM layers of 4H(I + H) + 8H, 1000 x 80k softmax + bias."""
  h, layers = 1000, 8
  derived = 160_000 * 1000 + 80_000 * 1000 + layers * (4 * h * (1000 + h) + 8 * h) + (h + 1) * 80_000
  assert count(create_model("lstm_seq2seq_sutskever")) == derived == 384_144_000
  # "of which 64M are pure recurrent connections (32M for the encoder and 32M for the decoder)": 4H(I + H) per layer
  assert layers * 4 * h * (1000 + h) == 64_000_000
  assert count(create_model("lstm_seq2seq_sutskever", recurrent_bias=False)) == 384_144_000 - layers * 4 * h


def test_reverse_real_tokens_keeps_padding_in_place():
  tokens = jnp.asarray([[5, 6, 7, 0, 0], [3, 4, 5, 6, 7]])
  out = reverse_real_tokens(tokens, jnp.asarray([3, 5]))
  np.testing.assert_array_equal(out, [[7, 6, 5, 0, 0], [7, 6, 5, 4, 3]])


def tiny_model(**kw):
  model = create_model("lstm_seq2seq_tiny", vocab_size=12, embed_dim=8, hidden_size=8, init_scale=0.5,
                       **kw)  # a large init, so the source visibly moves the logits
  src = jnp.asarray([[3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 3]], jnp.int32)
  tgt = jnp.asarray([[1, 5, 4], [1, 3, 11]], jnp.int32)
  return model, model.init(jax.random.key(0), src, tgt), src, tgt


def test_reverse_source_equals_feeding_the_reversed_source():
  model, variables, src, tgt = tiny_model()
  reversed_src = jnp.asarray([[6, 5, 4, 3, 0, 0], [3, 11, 10, 9, 8, 7]], jnp.int32)
  forward = model.clone(reverse_source=False)
  np.testing.assert_allclose(model.apply(variables, src, tgt), forward.apply(variables, reversed_src, tgt),
                             rtol=1e-5, atol=1e-6)
  assert not np.allclose(model.apply(variables, src, tgt), forward.apply(variables, src, tgt), atol=1e-4)


@pytest.mark.parametrize("reverse", [True, False])
def test_source_padding_is_skipped(reverse):
  """Extra trailing padding leaves the encoder's final states, hence the logits, unchanged."""
  model, variables, src, tgt = tiny_model(reverse_source=reverse)
  padded = jnp.pad(src, ((0, 0), (0, 3)))
  np.testing.assert_allclose(model.apply(variables, src, tgt), model.apply(variables, padded, tgt), rtol=1e-5,
                             atol=1e-6)
  unmasked = model.clone(pad_id=None)
  assert not np.allclose(unmasked.apply(variables, src, tgt), unmasked.apply(variables, padded, tgt), atol=1e-4)


def test_decoder_starts_from_the_encoder_state():
  """Different sources give different target logits (the states carry the source into the decoder)."""
  model, variables, src, tgt = tiny_model()
  other = src.at[:, 0].set(9)
  assert not np.allclose(model.apply(variables, src, tgt), model.apply(variables, other, tgt), atol=1e-4)


def test_bad_depth_is_an_error():
  with pytest.raises(ValueError, match="num_layers must be >= 1; got 0"):
    tiny_model(num_layers=0)


@pytest.mark.parametrize("attention", [None, "bahdanau", "luong"])
def test_attention_parameter_count_equals_formula(attention):
  """Cells 4H(I + H) + 8H; Bahdanau: the context joins the first decoder input, U, W (H x H) and v (H), output
  [s; c] (2H + 1) V; Luong: W_a (H x H), W_c (2H x H), output (H + 1) V; no biases in the attention."""
  model = create_model("lstm_seq2seq_tiny", vocab_size=12, embed_dim=8, hidden_size=6, num_layers=3,
                       attention=attention)
  v, e, h, layers = 12, 8, 6, 3
  cell = lambda i: 4 * h * (i + h) + 8 * h
  encoder = cell(e) + (layers - 1) * cell(h)
  decoder_input = e + h if attention == "bahdanau" else e
  decoder = cell(decoder_input) + (layers - 1) * cell(h)
  extra = {None: 0, "bahdanau": 2 * h * h + h, "luong": h * h + 2 * h * h}[attention]
  output = (2 * h + 1) * v if attention == "bahdanau" else (h + 1) * v
  assert count(model) == 2 * v * e + encoder + decoder + extra + output


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_weights_sum_to_one_and_skip_padding(attention):
  model, variables, src, tgt = tiny_model(attention=attention)
  logits, state = model.apply(variables, src, tgt, mutable=["intermediates"])
  weights = state["intermediates"]["attention_weights"][0]
  assert logits.shape == (2, 3, 12) and weights.shape == (2, 3, 6), f"{logits.shape}, {weights.shape}"
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6, err_msg="attention weights must sum to one")
  np.testing.assert_array_equal(weights[0, :, 4:], 0.0, err_msg="padding positions must get no attention")
  assert (weights[1] > 0).all() and (weights[0, :, :4] > 0).all(), "real tokens must get attention"
  padded = jnp.pad(src, ((0, 0), (0, 3)))
  np.testing.assert_allclose(model.apply(variables, padded, tgt), logits, rtol=1e-5, atol=1e-6,
                             err_msg="extra padding changed the logits")
  other = src.at[0, 1].set(9)  # a middle token: only the attention (and the state) can carry it
  assert not np.allclose(model.apply(variables, other, tgt)[0], logits[0], atol=1e-4)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_decoder_is_causal(attention):
  model, variables, src, tgt = tiny_model(attention=attention)
  changed = tgt.at[:, 2].set(7)
  np.testing.assert_allclose(model.apply(variables, src, tgt)[:, :2], model.apply(variables, src, changed)[:, :2],
                             rtol=1e-6, atol=1e-6, err_msg="a later target token changed earlier logits")


def test_bad_attention_is_an_error():
  with pytest.raises(ValueError, match="attention='dot'; accepted: None, 'bahdanau', 'luong'"):
    tiny_model(attention="dot")
