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
