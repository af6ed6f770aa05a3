"""Parity with PyTorch's nn.LSTM language model (word_language_model layout) after conversion."""
import numpy as np
import pytest

import archs
from tests.weights_parity import randomize, relative_error

pytestmark = [pytest.mark.torch]


def _torch_lm(vocab, hidden, layers):
  import torch  # noqa: PLC0415

  class LM(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.encoder = torch.nn.Embedding(vocab, hidden)
      self.rnn = torch.nn.LSTM(hidden, hidden, layers, batch_first=True)
      self.decoder = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens):
      return self.decoder(self.rnn(self.encoder(tokens))[0])

  return LM().eval()


def test_lstm_language_model_parity(tmp_path):
  import torch  # noqa: PLC0415
  reference = _torch_lm(50, 24, 2)
  torch.save(reference.state_dict(), tmp_path / "lm.pt")
  model, variables = archs.load_pretrained("lstm_tiny", tmp_path / "lm.pt")  # sizes read off the checkpoint
  assert (model.vocab_size, model.hidden_size, model.num_layers) == (50, 24, 2)
  tokens = np.random.default_rng(0).integers(0, 50, (3, 11))
  with torch.no_grad():
    ref = reference(torch.from_numpy(tokens)).numpy()
  err = relative_error(model.apply(variables, tokens.astype(np.int32)), ref)
  assert err < 1e-4, f"max relative logit error {err:.2e}"


RETNET = dict(vocab_size=50, decoder_embed_dim=32, decoder_value_embed_dim=48, decoder_ffn_embed_dim=64,
              decoder_layers=2, decoder_retention_heads=2)


def _retnet(kind, seed=0):
  """torchscale's RetNetDecoder (pip install torchscale fairscale; skipped without) or its re-typed twin
  (tests/retnet_reference.py). Random weights: Linear N(0, 1/fan_in) so that retention is far from its init,
  RMSNorm weights 0.5..1.5, embeddings N(0, 1)."""
  import torch  # noqa: PLC0415
  torch.manual_seed(seed)
  if kind == "torchscale":
    pytest.importorskip("fairscale")
    config = pytest.importorskip("torchscale.architecture.config")
    retnet = pytest.importorskip("torchscale.architecture.retnet")
    model = retnet.RetNetDecoder(config.RetNetConfig(**RETNET), embed_tokens=torch.nn.Embedding(50, 32))
  else:
    from tests.retnet_reference import RetNetDecoder  # noqa: PLC0415
    model = RetNetDecoder(50, 32, 48, 64, 2, 2)
  return randomize(model, seed, linear_fan_in=True)


def _logits(reference, tokens, recurrent=False):
  import torch  # noqa: PLC0415
  with torch.no_grad():
    if not recurrent:
      out = reference(torch.from_numpy(tokens))
      return (out[0] if isinstance(out, tuple) else out).numpy()
    steps, state = [], {}
    retyped = not hasattr(reference, "forward_embedding")  # torchscale decodes from the growing prefix
    states = [{} for _ in reference.layers]
    for t in range(tokens.shape[1]):
      if retyped:
        steps.append(reference(torch.from_numpy(tokens[:, t:t + 1]), states, position=t)[:, -1].numpy())
      else:  # torchscale's decoding: the growing prefix, the last token's logits
        steps.append(reference(torch.from_numpy(tokens[:, :t + 1]), incremental_state=state)[0][:, -1].numpy())
    return np.stack(steps, axis=1)


@pytest.mark.parametrize("mode", ["parallel", "recurrent"])
@pytest.mark.parametrize("kind", ["retyped", "torchscale"])
def test_retnet_torchscale_parity(tmp_path, kind, mode):
  import torch  # noqa: PLC0415
  reference = _retnet(kind)
  torch.save(reference.state_dict(), tmp_path / "retnet.pt")
  model, variables = archs.load_pretrained("retnet_tiny", tmp_path / "retnet.pt")  # sizes read off the checkpoint
  assert (model.dim, model.value_dim, model.ffn_dim, model.depth, model.num_heads) == (32, 48, 64, 2, 2)
  assert (model.head_norm, model.score_norm) == ("rms", "torchscale")
  tokens = np.random.default_rng(0).integers(0, 50, (2, 13))
  ref = _logits(reference, tokens, recurrent=mode == "recurrent")
  err = relative_error(model.apply(variables, tokens.astype(np.int32), mode=mode), ref)
  unscaled = relative_error(model.clone(score_norm="none").apply(variables, tokens.astype(np.int32), mode=mode), ref)
  print(f"{kind} RetNet ({mode}): {err:.2e}; without the scalings (score_norm='none'): {unscaled:.2e}")
  assert err < 1e-4, f"{mode}: max relative logit error {err:.2e}"


def test_retyped_reference_is_torchscales():
  """The re-typed twin has torchscale's keys (strict load) and outputs, in both forms."""
  torchscale = _retnet("torchscale")
  from tests.retnet_reference import RetNetDecoder  # noqa: PLC0415
  retyped = RetNetDecoder(50, 32, 48, 64, 2, 2).eval()
  retyped.load_state_dict(torchscale.state_dict(), strict=True)
  tokens = np.random.default_rng(1).integers(0, 50, (2, 9))
  for recurrent in (False, True):
    np.testing.assert_allclose(_logits(retyped, tokens, recurrent), _logits(torchscale, tokens, recurrent),
                               rtol=1e-5, atol=1e-5, err_msg=f"recurrent={recurrent}")
