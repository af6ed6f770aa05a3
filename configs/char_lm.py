"""Character language models on the embedded grammar corpus (train/text_data.py), one preset per model.

  python -m train.main --config configs/char_lm.py:retnet --workdir /tmp/retnet
Presets: `lstm` (default), `tnn`, `retnet`, and `retnet_parallel|retnet_chunkwise|retnet_recurrent` (RetNet is
trained in the parallel form; the suffix picks the form used in evaluation, all three equal).
configs/lstm.py, retnet.py[:form] and tnn.py are the same configs under their former names.
summary.json: eval_perplexity against eval_unigram_perplexity (train character frequencies).
"""
from train import defaults

RETNET_FORMS = ("parallel", "chunkwise", "recurrent")
MODELS = {
    "lstm": ("lstm_tiny", {"hidden_size": 128}),   # 2 x 128 LSTM (Zaremba et al. layout)
    "tnn": ("tnn_tiny", {"decay": 0.9}),           # dim 64, 2 layers; decay: the TNN README's advice below ~100 tokens
    "retnet": ("retnet_tiny", {}),                 # dim 64, value/FFN 128, 2 layers, 2 heads
}
PRESETS = (None, "lstm", "tnn", "retnet") + tuple(f"retnet_{form}" for form in RETNET_FORMS)


def get_config(arg=None):
  defaults.check_preset(arg, PRESETS)
  family, _, form = (arg or "lstm").partition("_")
  c = defaults.base_config()
  c.model, c.model_kwargs = MODELS[family][0], dict(MODELS[family][1])  # vocab_size comes from the corpus
  c.task = "lm"
  c.task_kwargs = {"seq_len": 128, "corpus_chars": 300_000}
  if family == "retnet":
    c.task_kwargs.update(eval_mode=form or "parallel", eval_chunk_size=32)
  c.num_epochs = 6
  c.batch_size = 32
  c.steps_per_call = 8
  c.optimizer.name = "adam"
  c.learning_rate = 3e-3
  c.schedule.name = "cosine"
  c.grad_clip_norm = 1.0
  c.log_every_epochs, c.log_every_steps = 0.25, 0
  c.checkpoint_every_steps = 0  # at every epoch end
  return defaults.locked(c)
