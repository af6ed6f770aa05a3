"""Ways to damage a checkpoint step directory (orbax OCDBT layout), shared by the tests and tests/fault_injection.py."""
import glob
import os
import shutil

from train import checkpoint


def largest_data_file(step_dir):
  files = [f for f in glob.glob(str(step_dir / "default" / "**" / "d" / "*"), recursive=True)]
  return max(files, key=os.path.getsize)


def truncate(step_dir):
  with open(largest_data_file(step_dir), "r+b") as f:
    f.truncate(os.path.getsize(f.name) // 2)


def flip_byte(step_dir):
  path = largest_data_file(step_dir)
  data = bytearray(open(path, "rb").read())
  data[len(data) // 2] ^= 0x10
  open(path, "wb").write(bytes(data))


def garble(path):
  open(path, "wb").write(b"\x00garbled{")


DAMAGES = {
    "truncated array file": truncate,
    "deleted array file": lambda d: os.remove(largest_data_file(d)),
    "flipped byte in an array file": flip_byte,
    "deleted _METADATA": lambda d: os.remove(d / "default" / "_METADATA"),
    "garbled _METADATA": lambda d: garble(d / "default" / "_METADATA"),
    "deleted manifest": lambda d: os.remove(d / "default" / "manifest.ocdbt"),
    "garbled manifest": lambda d: garble(d / "default" / "manifest.ocdbt"),
    "empty step directory": lambda d: [shutil.rmtree(p) if p.is_dir() else p.unlink() for p in d.iterdir()],
    "missing default/ item": lambda d: shutil.rmtree(d / "default"),
    "deleted checksums": lambda d: os.remove(d / checkpoint.CHECKSUMS),
    "garbled checksums": lambda d: garble(d / checkpoint.CHECKSUMS),
}
