"""The shipped digits VanillaNet (configs/vanillanet.py) with a chosen series-activation size and lambda schedule.

  python -m train.main --config experiments/configs/vanillanet_ablation.py:act3          # deep training (shipped)
  python -m train.main --config experiments/configs/vanillanet_ablation.py:act3_lambda1  # lambda = 1 throughout
Preset `act<N>[_lambda1]`, N = 0..9: act_num N (a (2N+1)^2 depthwise conv in every series activation; the paper's
default is 3). Without `_lambda1` deep training (paper 3.2): lambda 0 -> 1 linearly over the first third of the
run (the authors' ratio; the shipped config's 10 of 30 epochs). With it, lambda = 1 from step 0 (decay_epochs 0),
so every block's two convs are linear from the start and the network trains as the deploy-form (shallow)
VanillaNet it fuses to. 15 epochs (lambda over the first 5), half the shipped 30, so that ten runs fit on a
shared 2-core CPU; everything else (1/8 width, LAMB, lr, warmup + cosine, 32x32x3 digits) is the shipped config's.
"""
import re

from train import defaults, errors

EPOCHS = 15
PRESET = re.compile(r"act(\d)(_lambda1)?")


def get_config(arg=None):
  match = PRESET.fullmatch(arg or "")
  if not match:
    raise errors.UserError(f"config preset {arg!r}; accepted: act<N> or act<N>_lambda1 with N in 0..9, e.g. act3")
  c = defaults.load_config("vanillanet")
  c.unlock()
  c.model_kwargs.act_num = int(match.group(1))
  c.num_epochs = EPOCHS
  c.checkpoint_every_epochs = EPOCHS  # one checkpoint, at the end
  # deep_training_lambda: decay_epochs <= 0 means lambda = 1 at every step
  c.scheduled_args.act_lambda.decay_epochs = 0 if match.group(2) else EPOCHS // 3
  return defaults.locked(c)
