"""The tnn character language model: configs/char_lm.py:tnn under its former name.

  python -m train.main --config configs/tnn.py --workdir /tmp/tnn
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None,))
  return defaults.load_config("char_lm", "tnn")
