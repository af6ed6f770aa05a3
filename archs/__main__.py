"""`python -m archs [PATTERN] [--markdown] [--readme README.md]`: every registered model with its cost.

Columns: name, family (its module), trainable parameters, multiply-accumulates of one forward pass at the model's
default input (`archs.costs.DEFAULT_INPUTS`, batch 1), that input, the reference (the first sentence of its module's docstring),
and the reference families whose checkpoints `archs.load_pretrained` converts (archs/weights/layouts.py).
Nothing is compiled: shapes are traced (about a second a model on a CPU). `--readme FILE` rewrites FILE's
table between the markers below, so the README's table is generated, never typed.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

import archs
from archs import costs
from archs.info import model_info, reference
from archs.weights import layouts

BEGIN, END = "<!-- begin: python -m archs --readme -->", "<!-- end: python -m archs --readme -->"


def _si(x: float) -> str:
  for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
    if x >= scale:
      return f"{x / scale:.2f} {unit}"
  return f"{x:.0f}"


def model_rows(pattern: str | None = None) -> list[dict]:
  rows = []
  for name in archs.list_models(pattern):
    module = archs.create_model(name)
    source = importlib.import_module(type(module).__module__)
    cost = costs.profile(name, xla=False)
    inputs = " + ".join("x".join(map(str, shape[1:] if shape[0] == 1 else shape)) + ("" if dtype == "float32" else
                        f" {dtype}") for shape, dtype in cost.inputs)
    smallest = model_info(name).min_image_size
    weights = ", ".join(layouts.for_model(name)) if name in layouts.models_with_layouts() else "-"
    rows.append({"name": name, "family": source.__name__.rsplit(".", 1)[-1], "params": cost.params,
                 "macs": cost.macs, "input": inputs, "min": f"{smallest}x{smallest}" if smallest else "-",
                 "reference": reference(source.__doc__), "weights": weights})
  return rows


def markdown(rows: list[dict]) -> str:
  lines = ["| model | family | parameters | MACs | input | min input | reference | weights from |",
           "|---|---|---|---|---|---|---|---|"]
  lines += [f"| `{r['name']}` | {r['family']} | {r['params']:,} | {_si(r['macs'])} | {r['input']} | {r['min']} | "
            f"{r['reference']} | {r['weights']} |" for r in rows]
  return "\n".join(lines)


def text(rows: list[dict]) -> str:
  lines = [f"{'model':28s} {'family':16s} {'parameters':>13s} {'MACs':>10s}  {'input':16s} {'min':9s} reference"]
  lines += [f"{r['name']:28s} {r['family']:16s} {r['params']:>13,d} {_si(r['macs']):>10s}  {r['input']:16s} "
            f"{r['min']:9s} {r['reference']}" for r in rows]
  return "\n".join(lines)


def rewrite_readme(path: str, table: str) -> None:
  with open(path) as f:
    content = f.read()
  if BEGIN not in content or END not in content:
    raise SystemExit(f"{path} has no table markers; accepted: a file with the lines {BEGIN} and {END}")
  head, rest = content.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  with open(path, "w") as f:
    f.write(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m archs", description=__doc__.splitlines()[0])
  parser.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'resnet*' (default: all)")
  parser.add_argument("--markdown", action="store_true", help="print a markdown table")
  parser.add_argument("--readme", metavar="FILE", help="rewrite FILE's generated model table (all models)")
  args = parser.parse_args(argv)
  rows = model_rows(None if args.readme else args.pattern)
  if not rows:
    raise SystemExit(f"no model matches {args.pattern!r}; see python -m archs")
  if args.readme:
    rewrite_readme(args.readme, markdown(rows))
    print(f"{args.readme}: table of {len(rows)} models rewritten")
  else:
    print(markdown(rows) if args.markdown else text(rows))


if __name__ == "__main__":
  main(sys.argv[1:])
