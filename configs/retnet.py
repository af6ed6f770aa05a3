"""RetNet (Sun et al. 2023) character language model on the embedded grammar corpus (train/text_data.py).

  python -m train.main --config configs/retnet.py --workdir /tmp/retnet
Presets: `configs/retnet.py:parallel|chunkwise|recurrent` (the form used in evaluation).
summary.json: eval_perplexity against eval_unigram_perplexity (train character frequencies).
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "parallel", "chunkwise", "recurrent"))
  c = defaults.base_config()
  c.model = "retnet_tiny"            # dim 64, value/FFN 128, 2 layers, 2 heads; vocab_size from the corpus
  c.model_kwargs = {}
  c.task = "lm"
  # Trained in the parallel form; eval_mode picks the form evaluated (parallel | chunkwise | recurrent, all equal).
  c.task_kwargs = {"seq_len": 128, "corpus_chars": 300_000, "eval_mode": arg or "parallel", "eval_chunk_size": 32}
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
