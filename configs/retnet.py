"""The RetNet character language model: configs/char_lm.py:retnet[_form] under its former name.

  python -m train.main --config configs/retnet.py[:parallel|chunkwise|recurrent] --workdir /tmp/retnet
"""
from train import defaults


def get_config(arg=None):
  defaults.check_preset(arg, (None, "parallel", "chunkwise", "recurrent"))
  return defaults.load_config("char_lm", f"retnet_{arg}" if arg else "retnet")
