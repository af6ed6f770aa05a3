"""python -m train.main --config configs/lenet5.py[:preset] [--workdir DIR] [--config.key=value ...]

Trains the config's model; the workdir defaults to runs/<config>[_<preset>] under the current directory, and a
workdir that holds checkpoints resumes. Flags, then one call to `train.trainer.train_and_evaluate`. A user
error (bad setting or input) prints one line on stderr and exits with status 2; a bug keeps its traceback.
"""
from __future__ import annotations

import os
import signal
import sys

from absl import flags
from ml_collections import config_flags

from train import errors, interrupt

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file, e.g. configs/lenet5.py[:arg].",
                                          lock_config=True)
FREE_FORM = ("model_kwargs", "task_kwargs", "scheduled_args")  # their keys are the config file's, not the base's
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and summary.json "
                                "(default: runs/<config>[_<preset>]; an existing one resumes).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "Multi-process runs: host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-process runs: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-process runs: this process's id, 0..N-1.")


def _unknown_override(argv) -> errors.UserError | None:
  """The first --config.a.b override whose key the base config lacks, as a UserError."""
  from train import defaults
  base = defaults.base_config()
  for arg in argv[1:]:
    if not arg.startswith("--config."):
      continue
    node, path = base, ""
    for key in arg[len("--config."):].split("=", 1)[0].split("."):
      if path.rstrip(".") in FREE_FORM or not hasattr(node, "keys"):
        break
      if key not in node:
        return errors.unknown("config key", f"{path}{key}", [f"{path}{k}" for k in node.keys()])
      node, path = node[key], f"{path}{key}."
  return None


def parse(argv):
  try:
    flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError) as e:
    # A bad flag or value (flags.Error) or an override of a key the config lacks (ml_collections raises
    # AttributeError / KeyError) is the user's; the same exceptions raised by the config file's code are bugs.
    if _raised_in_get_config(e):
      raise
    free_form = [a.split("=", 1)[0] for a in argv[1:] if a.startswith(tuple(f"--config.{d}." for d in FREE_FORM))]
    if isinstance(e, (AttributeError, KeyError)) and free_form and not _unknown_override(argv):
      raise errors.UserError(f"{free_form[0]}: the config file sets no key {str(e).strip(chr(34))}; accepted: keys "
                             f"the config file sets (a new key goes in the file)") from None
    raise _unknown_override(argv) or errors.UserError(
        f"bad flags: {' '.join(str(e).split())}; accepted: --config FILE.py[:arg] --workdir DIR "
        f"--config.KEY=VALUE") from None
  if not flags.FLAGS["config"].present:
    raise errors.UserError("--config is required; accepted: a config file such as configs/lenet5.py[:preset] "
                           "(see --help)")
  config = _CONFIG.value
  try:
    config.keys()  # a config file that failed to load raises here
  except OSError as e:
    reason = str(e).strip().splitlines()[-1].strip()
    raise errors.UserError(f"cannot load --config {flags.FLAGS['config'].config_filename!r}: {reason}; "
                           f"accepted: a Python file with get_config(arg=None)") from None
  return config, _WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)


def default_workdir(config_arg: str) -> str:
  """runs/<config file name>[_<preset>]: configs/convnext.py:imagenet -> runs/convnext_imagenet."""
  path, _, preset = config_arg.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("runs", f"{name}_{preset}" if preset else name)


def usage() -> str:
  """--help: this module's docstring and every flag with its help text."""
  ours = [flags.FLAGS[n] for n in ("config", "workdir", "coordinator_address", "num_processes", "process_id")]
  lines = [f"  --{f.name}: {f.help}" for f in ours]
  return (__doc__.strip() + "\n\nflags:\n" + "\n".join(lines) +
          "\n  --config.KEY=VALUE: any setting of train/defaults.py or the config file (e.g. --config.num_epochs=5)")


def _raised_in_get_config(e: BaseException) -> bool:
  """Whether `e`, or an exception it wraps, was raised while a config file's get_config() ran."""
  while e is not None:
    tb = e.__traceback__
    while tb is not None:
      if tb.tb_frame.f_code.co_name == "get_config":
        return True
      tb = tb.tb_next
    e = e.__cause__ or e.__context__
  return False


def main(argv=None) -> int:
  argv = sys.argv if argv is None else argv
  if any(a in ("-h", "--help", "-help", "--helpfull") for a in argv[1:]):
    print(usage())
    return 0
  try:
    config, workdir = parse(argv)
    print(f"workdir: {os.path.abspath(workdir)}", flush=True)
    from train import distributed
    distributed.initialize(config.distributed, coordinator_address=_COORDINATOR.value,
                           num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
    from train import trainer  # after flags: jax starts here
    trainer.train_and_evaluate(config, workdir)
  except errors.UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return errors.EXIT_USER_ERROR
  except interrupt.Interrupted as e:
    print(e, file=sys.stderr)
    return e.exit_status
  except KeyboardInterrupt:  # before training started (the loop handles Ctrl-C itself): nothing to save
    print("interrupted before training started; nothing was saved", file=sys.stderr)
    return 128 + signal.SIGINT
  return 0


if __name__ == "__main__":
  sys.exit(main())
