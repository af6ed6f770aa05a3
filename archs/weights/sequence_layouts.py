"""Layouts of PyTorch sequence models: the LSTM language model of PyTorch's word_language_model example
(encoder = nn.Embedding, rnn = nn.LSTM(batch_first), decoder = nn.Linear; the gate order i, f, g, o is ours)."""
import re

import numpy as np

from archs.weights.convert import Layout, Rule


def _lstm_key(key: str) -> str:
  """nn.LSTM's flat names as modules: rnn.weight_ih_l0 -> rnn.l0.ih.weight."""
  m = re.fullmatch(r"(.*)\.(weight|bias)_(ih|hh)_l(\d+)", key)
  return f"{m[1]}.l{m[4]}.{m[3]}.{m[2]}" if m else key


def _lstm_sizes(state_dict) -> dict:
  vocab, hidden = state_dict["encoder.weight"].shape
  layers = sum(1 for k in state_dict if re.fullmatch(r"rnn\.weight_ih_l\d+", k))
  return {"vocab_size": int(vocab), "hidden_size": int(hidden), "num_layers": layers}


LSTM_LM = Layout(
    source="PyTorch nn.Embedding + nn.LSTM + nn.Linear", key_map=_lstm_key, options_from=_lstm_sizes,
    init_input=lambda: np.zeros((1, 4), np.int32),
    rules=(Rule(r"encoder", "embedding"), Rule(r"rnn\.l(\d+)\.ih", r"lstm/layer_\1/input"),
           Rule(r"rnn\.l(\d+)\.hh", r"lstm/layer_\1/hidden"), Rule(r"decoder", "output")))

LAYOUTS = {name: LSTM_LM for name in ("lstm_tiny", "lstm_base", "lstm_large")}
