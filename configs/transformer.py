"""Transformer (encoder-decoder) on the embedded seq2seq task: reverse digit strings of length 1..10.

  python -m train.main --config configs/transformer.py --workdir /tmp/transformer
Eval exact-match uses greedy decoding with the key/value cache (train/tasks/seq2seq.py), not teacher forcing.
Presets: `configs/transformer.py:copy|reverse|sort` (the task; default reverse). `:paper` is the paper's recipe
(Vaswani et al. 2017, Sec. 5.3-5.4) on the reverse task: post-LN, dropout 0.1, label smoothing 0.1, Adam(0.9, 0.98,
1e-9), lr = d_model^-0.5 min(n^-0.5, n warmup^-1.5) with 4000 warmup steps, 100k steps (782 epochs here: long).
`:lstm` trains the LSTM encoder-decoder of Sutskever et al. 2014 (lstm_seq2seq_tiny, 2 x 128 cells, source
reversed) on the same reverse task, for the LSTM-vs-Transformer comparison; its eval also reports beam search
(beam 4, alpha 0.6; archs/decoding.py). `:lstm_bahdanau` / `:lstm_luong` are the same with attention
(archs/lstm_seq2seq.py: Bahdanau et al. 2015 additive, Luong et al. 2015 multiplicative). Any preset takes --config.task_kwargs.beam_size=4 the same way.
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "copy", "reverse", "sort", "paper", "lstm", "lstm_bahdanau", "lstm_luong"))
  c = defaults.base_config()
  c.model = "transformer_tiny"       # d_model 64, 4 heads, FFN 128, 2 + 2 layers; vocab and pad_id from the task
  c.model_kwargs = {"dropout_rate": 0.0, "pre_ln": True}
  c.task = "seq2seq"
  c.task_kwargs = {"kind": arg if arg in ("copy", "sort") else "reverse", "min_len": 1, "max_len": 10, "train_examples": 16384,
                   "eval_examples": 1024}
  c.num_epochs = 12
  c.batch_size = 128
  c.eval_batch_size = 512
  c.steps_per_call = 16              # 16384 / 128 = 128 steps per epoch
  c.optimizer.name = "adam"
  c.optimizer.b2 = 0.98
  c.learning_rate = 2e-3
  c.schedule.name = "warmup_cosine"
  c.schedule.warmup_epochs = 0.5
  c.grad_clip_norm = 1.0
  c.log_every_steps = 128
  c.checkpoint_every_steps = 0
  if arg == "paper":
    d_model, warmup_steps, steps_per_epoch = 64, 4000, 16384 // 128  # transformer_tiny's d_model
    c.model_kwargs = {"dropout_rate": 0.1, "pre_ln": False}
    c.task_kwargs["label_smoothing"] = 0.1
    c.optimizer.b1, c.optimizer.b2, c.optimizer.eps = 0.9, 0.98, 1e-9
    c.schedule.name = "inverse_sqrt"
    c.schedule.warmup_epochs = warmup_steps / steps_per_epoch
    c.learning_rate = (d_model * warmup_steps) ** -0.5  # the schedule's peak, at the end of warmup
    c.num_epochs = -(-100_000 // steps_per_epoch)
    c.grad_clip_norm = 0.0
  if arg in ("lstm", "lstm_bahdanau", "lstm_luong"):
    c.model = "lstm_seq2seq_tiny"
    c.model_kwargs = {"embed_dim": 64, "hidden_size": 128, "reverse_source": True}
    if arg != "lstm":
      c.model_kwargs["attention"] = arg.split("_")[1]
    c.task_kwargs["beam_size"] = 4
    c.grad_clip_norm = 5.0  # the paper's norm clip (Sec. 3.4)
  return defaults.locked(c)
