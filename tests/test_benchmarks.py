"""benchmarks.run: the driver runs end to end on two tiny models (no timing is asserted: figures are not facts)."""
import csv

import pytest

from benchmarks import run

pytestmark = pytest.mark.usefixtures("fast_compile")


def test_the_driver_measures_two_tiny_models_and_writes_csv_and_markdown(tmp_path):
  out, md = tmp_path / "bench.csv", tmp_path / "BENCH.md"
  rows = run.main(["--models", "lenet5,lstm_tiny:hidden_size=8", "--batch", "4", "--seq", "8", "--calls", "1",
                   "--windows", "1", "--torch", "off", "--csv", str(out), "--append", str(md)])
  assert [(r["model"], r["side"]) for r in rows] == [("lenet5", "jax"), ("lstm_tiny:hidden_size=8", "jax")]
  for row in rows:
    assert row["train_per_s"] > 0 and row["infer_per_s"] > 0 and row["latency_ms"] > 0, row
  assert rows[0]["input"] == "32x32x1" and rows[1]["train_tokens_per_s"] == 8 * rows[1]["train_per_s"]
  with open(out) as f:
    assert [r["model"] for r in csv.DictReader(f)] == ["lenet5", "lstm_tiny:hidden_size=8"]
  assert "| `lstm_tiny:hidden_size=8` | jax | 8 tokens | 4 |" in md.read_text()


def test_model_specs_carry_overrides():
  assert run.parse_model("vanillanet_5:deploy:width_multiplier=0.5") == (
      "vanillanet_5", {"deploy": True, "width_multiplier": 0.5})


@pytest.mark.slow  # 24 small programs compiled: ~80 s on the loaded 2 cores
def test_seq_scaling_measures_every_layer_and_writes_its_tables(tmp_path):
  from benchmarks import seq_scaling
  md = tmp_path / "BENCH.md"
  rows = seq_scaling.main(["--lengths", "8", "16", "--dim", "8", "--heads", "2", "--windows", "1",
                           "--append", str(md)])
  names = ["attention", "retnet parallel", "retnet chunkwise", "retnet recurrent", "tnn", "lstm"]
  assert [(r["layer"], r["length"]) for r in rows] == [(n, k) for n in names for k in (8, 16)]
  for row in rows:  # memory comes from the compiled program: positive on every backend
    assert row["forward_ms"] > 0 and row["train_ms"] > 0 and row["train_mib"] > 0, row
  text = md.read_text()
  assert "| retnet chunkwise |" in text and "n = 16" in text and "compiled memory" in text
