"""Parity with PyTorch's nn.LSTM language model (word_language_model layout) after conversion."""
import numpy as np
import pytest

import archs
from tests.weights_parity import relative_error

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
