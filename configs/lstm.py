"""The lstm character language model: configs/char_lm.py:lstm under its former name.

  python -m train.main --config configs/lstm.py --workdir /tmp/lstm
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None,))
  return defaults.load_config("char_lm", "lstm")
