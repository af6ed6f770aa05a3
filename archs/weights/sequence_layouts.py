"""Layouts of PyTorch sequence models: the LSTM language model of PyTorch's word_language_model example
(encoder = nn.Embedding, rnn = nn.LSTM(batch_first), decoder = nn.Linear; the gate order i, f, g, o is ours), and
torchscale's RetNetDecoder."""
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


def _fuse_glu(state_dict) -> dict:
  """torchscale's GLU fc2(act(fc1 x) * gate x) -> our gated FFN's one `wi` of outputs [fc1 | gate]."""
  out = {k: v for k, v in state_dict.items() if not re.fullmatch(r".*\.ffn\.(fc1|gate)\.weight", k)}
  for key in state_dict:
    if m := re.fullmatch(r"(.*\.ffn)\.fc1\.weight", key):
      out[f"{m[1]}.wi.weight"] = np.concatenate([state_dict[key], state_dict[f"{m[1]}.gate.weight"]], axis=0)
  return out


def _retnet_sizes(state_dict) -> dict:
  vocab, dim = state_dict["embed_tokens.weight"].shape
  layers = sum(1 for k in state_dict if re.fullmatch(r"layers\.\d+\.retention\.q_proj\.weight", k))
  sizes = {"vocab_size": int(vocab), "dim": int(dim), "depth": layers,
           "value_dim": int(state_dict["layers.0.retention.v_proj.weight"].shape[0]),
           "ffn_dim": int(state_dict["layers.0.ffn.fc1.weight"].shape[0])}
  if "retnet_rel_pos.decay" in state_dict:  # one decay per head (the head count has no weight of its own)
    sizes["num_heads"] = int(state_dict["retnet_rel_pos.decay"].shape[0])
  return sizes


# torchscale's RetNetDecoder (embed_tokens passed in, no embedding scale, pre-norm, no MoE/deepnorm/multiway).
RETNET_TORCHSCALE = Layout(
    source="torchscale RetNetDecoder", prepare=_fuse_glu, options_from=_retnet_sizes,
    init_input=lambda: np.zeros((1, 4), np.int32), ignore=(r"retnet_rel_pos\..*",),  # angle/decay: from the sizes
    model_kwargs={"head_norm": "rms", "score_norm": "torchscale"},
    note="head_norm='rms', score_norm='torchscale': torchscale 0.3's per-head RMSNorm and retention scalings",
    rules=(Rule(r"embed_tokens", "embed"), Rule(r"output_projection", "head"), Rule(r"layer_norm", "norm"),
           Rule(r"layers\.(\d+)\.retention\.(q|k|v|g|out)_proj", r"blocks_\1/retention/\2_proj"),
           Rule(r"layers\.(\d+)\.retention_layer_norm", r"blocks_\1/retention_norm"),
           Rule(r"layers\.(\d+)\.final_layer_norm", r"blocks_\1/ffn_norm"),
           Rule(r"layers\.(\d+)\.ffn\.(wi)", r"blocks_\1/ffn/wi"), Rule(r"layers\.(\d+)\.ffn\.fc2", r"blocks_\1/ffn/wo")))

RETNET_LAYOUTS = {name: RETNET_TORCHSCALE for name in ("retnet_tiny", "retnet_base")}
