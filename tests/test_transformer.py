"""Transformer facts: parameter counts per formula, causality, source padding, cache == no-cache decoding,
the paper's sinusoidal formula, and the post-LN / pre-LN wiring."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import archs
from archs.layers.positional import PositionalEncoding, sinusoidal_encoding
from archs.transformer import Transformer, TransformerLayer, greedy_decode, greedy_generate

_TINY = dict(vocab_size=50, d_model=32, num_heads=4, d_ff=48)


def _count(shapes):
  return sum(x.size for x in jax.tree.leaves(shapes["params"]))


def _expected_params(m, decoder_only=False):
  """Embeddings + per-layer weights, from the config: attention 4 (d^2 + d), ReLU FFN 2 d f + f + d, LayerNorm 2d."""
  d, f, v = m.d_model, m.d_ff, m.vocab_size
  attention, ffn, norm = 4 * (d * d + d), 2 * d * f + f + d, 2 * d
  decoder_layer = attention + ffn + 2 * norm + (0 if decoder_only else attention + norm)
  stacks = 1 if decoder_only else 2
  total = v * d + (0 if m.tie_output else d * v)
  total += 0 if decoder_only or m.share_embeddings else v * d
  total += stacks * (m.max_len * d if m.positional == "learned" else 0) + stacks * (norm if m.pre_ln else 0)
  if decoder_only:
    return total + m.num_layers * decoder_layer
  return total + m.num_encoder_layers * (attention + ffn + 2 * norm) + m.num_decoder_layers * decoder_layer


_TOKENS = jnp.ones((1, 4), jnp.int32)


@pytest.mark.parametrize("name,overrides", [
    ("transformer_tiny", {}), ("transformer_base", {}),
    ("transformer_tiny", dict(pre_ln=True, share_embeddings=False, tie_output=False, positional="learned")),
    ("transformer_lm_tiny", {}), ("transformer_lm_base", {}),
    ("transformer_lm_tiny", dict(pre_ln=True, tie_output=False, positional="learned", max_len=64)),
])
def test_param_count_equals_formula(name, overrides):
  model = archs.create_model(name, **overrides)
  lm = name.startswith("transformer_lm")
  shapes = jax.eval_shape(model.init, jax.random.key(0), _TOKENS, *(() if lm else (_TOKENS,)))
  want = _expected_params(model, decoder_only=lm)
  assert _count(shapes) == want, f"{name} {overrides}: expected {want} params from the formula, got {_count(shapes)}"


def test_paper_base_config():
  m = archs.create_model("transformer_base")
  got = (m.d_model, m.num_heads, m.d_ff, m.num_encoder_layers, m.num_decoder_layers, m.dropout_rate, m.pre_ln)
  assert got == (512, 8, 2048, 6, 6, 0.1, False), f"paper base is d512 h8 ff2048 6+6 dropout 0.1 post-LN; got {got}"


def test_sinusoidal_encoding_equals_paper_formula():
  pos, d = np.arange(60)[:, None], 16
  i = np.arange(d // 2)[None, :]
  want = np.zeros((60, d))
  want[:, 0::2] = np.sin(pos / 10000 ** (2 * i / d))
  want[:, 1::2] = np.cos(pos / 10000 ** (2 * i / d))
  np.testing.assert_allclose(sinusoidal_encoding(jnp.arange(60), d), want, atol=3e-5,
                             err_msg="PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)")


def _seq2seq(**kw):
  model = Transformer(**{**_TINY, "num_encoder_layers": 2, "num_decoder_layers": 2, "tie_output": False, **kw})
  rng = np.random.RandomState(0)
  src = jnp.asarray(rng.randint(3, 50, (2, 7)), jnp.int32).at[1, 4:].set(0)
  tgt = jnp.asarray(rng.randint(3, 50, (2, 6)), jnp.int32)
  return model, model.init(jax.random.key(0), src, tgt), src, tgt


def _lm(**kw):
  model = archs.create_model("transformer_lm_tiny", **{**_TINY, "tie_output": False, **kw})
  tokens = jnp.asarray(np.random.RandomState(1).randint(1, 50, (2, 9)), jnp.int32)
  return model, model.init(jax.random.key(0), tokens), tokens


def test_decoder_and_lm_are_causal():
  model, variables, src, tgt = _seq2seq()
  changed = tgt.at[:, 3:].set(7)
  a, b = model.apply(variables, src, tgt), model.apply(variables, src, changed)
  np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6, err_msg="future target tokens changed earlier logits")
  assert not np.allclose(a[:, 3:], b[:, 3:]), "changed target tokens must change their own logits"
  lm, lm_vars, tokens = _lm()
  a, b = lm.apply(lm_vars, tokens), lm.apply(lm_vars, tokens.at[:, 5:].set(3))
  np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-6, err_msg="future tokens changed earlier LM logits")
  assert not np.allclose(a[:, 5:], b[:, 5:]), "changed tokens must change their own LM logits"


@pytest.mark.parametrize("pad_id", [0, None])
def test_source_padding_is_masked(pad_id):
  model, variables, src, tgt = _seq2seq(pad_id=pad_id)
  longer = jnp.pad(src, ((0, 0), (0, 3)))  # three more pad tokens at the end of every source
  a, b = model.apply(variables, src, tgt), model.apply(variables, longer, tgt)
  enc_a = model.apply(variables, src, method=Transformer.encode)
  enc_b = model.apply(variables, longer, method=Transformer.encode)
  if pad_id is None:  # the control: unmasked padding does change the outputs
    assert not np.allclose(a, b, atol=1e-4), "without masking, padding must change the logits"
    return
  np.testing.assert_allclose(a, b, atol=1e-5, err_msg="extra source padding changed the decoder logits")
  np.testing.assert_allclose(enc_a[0], enc_b[0, :7], atol=1e-5, err_msg="padding changed non-pad encoder outputs")
  np.testing.assert_allclose(enc_a[1, :4], enc_b[1, :4], atol=1e-5, err_msg="padding changed non-pad encoder outputs")


@pytest.mark.parametrize("overrides", [{}, dict(pre_ln=True, positional="learned", max_len=16)])
def test_cached_decoder_logits_equal_full(overrides):
  model, variables, src, tgt = _seq2seq(**overrides)
  full = model.apply(variables, src, tgt)
  memory = model.apply(variables, src, method=Transformer.encode)
  step = model.clone(decode=True)
  cache = step.init(jax.random.key(0), memory, src, tgt, method=Transformer.decode_logits)["cache"]
  cache = jax.tree.map(jnp.zeros_like, cache)
  outs = []
  for t in range(tgt.shape[1]):  # memory on the first step only: later steps read its cached keys/values
    logits, updates = step.apply({"params": variables["params"], "cache": cache}, memory if t == 0 else None, src,
                                 tgt[:, t:t + 1], method=Transformer.decode_logits, mutable=["cache"])
    cache = updates["cache"]
    outs.append(logits)
  np.testing.assert_allclose(jnp.concatenate(outs, 1), full, atol=1e-4, err_msg="cached step logits != full logits")
  cross = cache["decoder"]["layer_0"]["cross_attention"]
  assert cross["memory_key"].shape == memory.shape[:2] + (4, 8), f"cached cross keys {cross['memory_key'].shape}"


def test_greedy_decode_cache_equals_no_cache():
  model, variables, src, _ = _seq2seq()
  cached = greedy_decode(model, variables, src, max_len=8, use_cache=True)
  plain = greedy_decode(model, variables, src, max_len=8, use_cache=False)
  assert cached.shape == (2, 8) and cached.dtype == jnp.int32, f"expected (2, 8) int32, got {cached.shape}"
  assert len(np.unique(plain)) > 2, f"degenerate decode {plain}: the comparison would be weak"
  np.testing.assert_array_equal(cached, plain, err_msg="greedy decoding with the cache must give the same tokens")
  eos = int(plain[0, 2])  # a token emitted at step 2: decoding stops there, pads after it
  stopped = np.asarray(greedy_decode(model, variables, src, max_len=8, eos_id=eos))
  first = int(np.argmax(stopped[0] == eos))
  assert first <= 2 and (stopped[0, first + 1:] == 0).all(), f"expected pads after eos {eos}: {stopped[0]}"


@pytest.mark.parametrize("prompt_len", [1, 3])
def test_greedy_generate_cache_equals_no_cache(prompt_len):
  lm, variables, tokens = _lm()
  prompt = tokens[:, :prompt_len]
  cached = greedy_generate(lm, variables, prompt, max_len=10, use_cache=True)
  plain = greedy_generate(lm, variables, prompt, max_len=10, use_cache=False)
  np.testing.assert_array_equal(cached[:, :prompt_len], prompt, err_msg="the output must start with the prompt")
  assert len(np.unique(plain[:, prompt_len:])) > 2, f"degenerate generation {plain}: the comparison would be weak"
  np.testing.assert_array_equal(cached, plain, err_msg="LM greedy generation with the cache must give the same tokens")


def _zero_sublayer_outputs(params):
  """Zeroes the output projections of attention and FFN, so that every sublayer adds 0."""
  zero = lambda path, p: jnp.zeros_like(p) if any(getattr(k, "key", None) in ("out", "wo") for k in path) else p
  return jax.tree_util.tree_map_with_path(zero, params)


def test_post_ln_and_pre_ln_wiring():
  x = 3.0 + 5.0 * jnp.asarray(np.random.RandomState(2).randn(2, 5, 32), jnp.float32)
  layer = functools.partial(TransformerLayer, num_heads=4, d_ff=48, cross_attention=True)
  memory = jnp.ones((2, 3, 32))
  for pre_ln in (False, True):
    m = layer(pre_ln=pre_ln)
    params = m.init(jax.random.key(0), x, memory=memory)["params"]
    y = m.apply({"params": params}, x, memory=memory)
    y_zero = m.apply({"params": _zero_sublayer_outputs(params)}, x, memory=memory)
    if pre_ln:  # x + f(LN(x)): with f = 0 the layer is the identity, and outputs are not normalized
      np.testing.assert_allclose(y_zero, x, atol=1e-5, err_msg="pre-LN with zero sublayers must be the identity")
      assert abs(float(y.mean())) > 1.0, "pre-LN output should keep the input's offset (no final LayerNorm)"
    else:  # LN(x + f(x)): every position of the output is layer-normalized
      np.testing.assert_allclose(y.mean(-1), 0, atol=1e-4, err_msg="post-LN output must have zero mean per position")
      np.testing.assert_allclose(y.std(-1), 1, atol=1e-3, err_msg="post-LN output must have unit std per position")
      ln = (x - x.mean(-1, keepdims=True)) / jnp.sqrt(x.var(-1, keepdims=True) + 1e-6)
      np.testing.assert_allclose(y_zero, ln, atol=1e-4, err_msg="post-LN with zero sublayers must be LayerNorm(x)")


def test_dropout_only_in_train():
  model, variables, src, tgt = _seq2seq()
  a = model.apply(variables, src, tgt, train=True, rngs={"dropout": jax.random.key(1)})
  b = model.apply(variables, src, tgt, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(a, b), "train=True must apply dropout (different keys, different logits)"
  np.testing.assert_array_equal(model.apply(variables, src, tgt), model.apply(variables, src, tgt),
                                err_msg="train=False must be deterministic")


def test_bad_inputs_raise():
  x = jnp.zeros((1, 20, 8))
  with pytest.raises(ValueError, match="unknown positional encoding 'rope'"):
    PositionalEncoding("rope").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="max_len=16"):
    PositionalEncoding("learned", max_len=16).init(jax.random.key(0), x)
  lm, variables, tokens = _lm()
  with pytest.raises(ValueError, match="prompt length 9"):
    greedy_generate(lm, variables, tokens, max_len=5)


def test_bfloat16_compute_keeps_float32_params_and_logits():
  model, variables, src, tgt = _seq2seq(dtype=jnp.bfloat16)
  dtypes = {p.dtype for p in jax.tree.leaves(variables["params"])}
  assert dtypes == {jnp.dtype(jnp.float32)}, f"parameters must stay float32, got {dtypes}"
  logits = model.apply(variables, src, tgt)
  assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all()), f"float32 finite logits, got {logits.dtype}"
