"""LSTM character language model on the embedded grammar corpus (train/text_data.py).

  python -m train.main --config configs/lstm.py --workdir /tmp/lstm
summary.json: eval_perplexity against eval_unigram_perplexity (train character frequencies).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None,))
  c = defaults.base_config()
  c.model = "lstm_tiny"              # 2 x 64 LSTM (Zaremba et al. layout); vocab_size from the corpus
  c.model_kwargs = {"hidden_size": 128}
  c.task = "lm"
  c.task_kwargs = {"seq_len": 128, "corpus_chars": 300_000}
  c.num_epochs = 6
  c.batch_size = 32
  c.steps_per_call = 8
  c.optimizer.name = "adam"
  c.learning_rate = 3e-3
  c.schedule.name = "cosine"
  c.grad_clip_norm = 1.0
  c.log_every_steps = 64
  c.checkpoint_every_steps = 0
  return defaults.locked(c)
