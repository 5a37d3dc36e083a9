"""docs/migrating-from-easyrec.md: its worked example validates, converts, trains and predicts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-easyrec.md"


def _block(name: str) -> str:
    match = re.search(rf"<!-- migrating: {name} -->\s*```\w*\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/migrating-from-easyrec.md has no '{name}' block"
    return match.group(1)


def _write_data(path: Path, rows: int, seed: int) -> None:
    """Header-less TSV in the example's input_fields order; the label depends on user, price and tags."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 50, rows), rng.integers(0, 80, rows)
    price = rng.gamma(2.0, 30.0, rows)
    tags = [("|".join(f"t{t}" for t in rng.choice(20, rng.integers(1, 4), replace=False))) for _ in range(rows)]
    logit = (users % 3 - 1) + (price > 50) - 0.5 + np.array([0.8 * ("t1" in t.split("|")) for t in tags])
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = [f"{labels[i]}\tu{users[i]}\ti{items[i]}\t{price[i]:.2f}\t{tags[i]}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_worked_example_runs(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    _write_data(tmp_path / "data" / "train.tsv", 2000, 0)
    _write_data(tmp_path / "data" / "valid.tsv", 600, 1)
    config = tmp_path / "example.config"
    config.write_text(_block("config"), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the .config's data paths resolve against its own folder
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert "config OK" in result.output
    result = runner.invoke(cli, ["convert", "easyrec", str(config), "-o", str(tmp_path / "example.yaml")])
    assert result.exit_code == 0, result.output
    assert "model_dir" in (tmp_path / "example.yaml").read_text(encoding="utf-8")  # a note at the top
    again = runner.invoke(cli, ["convert", "easyrec", str(config), "-o", str(tmp_path / "example.yaml")])
    assert again.exit_code == 2 and "--overwrite" in again.output
    run_dir = tmp_path / "runs" / "example"
    result = runner.invoke(cli, ["train", str(config), "-o", str(run_dir), "--set", "train.progress=false",
                                 "--set", "train.tensorboard=false"])
    assert result.exit_code == 0, result.output
    auc = float(re.search(r"valid: .*?auc=([0-9.]+)", result.output).group(1))
    assert auc > 0.6, result.output  # the planted signal is learnt
    monkeypatch.chdir(tmp_path)
    exec(compile(_block("predict"), str(DOC), "exec"), {})
    scores = pq.read_table(tmp_path / "scores.parquet")
    assert scores.num_rows == 600


def test_rtp_example_is_the_translation_and_reads_rtp_text(tmp_path):
    from recblocks.data import read_table
    from recblocks.easyrec.data_section import data_section

    data = yaml.safe_load(_block("rtp"))["data"]
    translated = data_section({"train_input_path": "data/train_feature.txt", "data_config": {
        "input_type": "RTPInput", "selected_cols": "0,3", "label_fields": ["clk"], "separator": "\x02",
        "input_fields": [{"input_name": "clk"}, {"input_name": "user_id"}, {"input_name": "tags"}]}})
    assert translated == data
    path = tmp_path / "train_feature.txt"
    path.write_text("1;a;b;u1\x02t1\x03t2\n0;a;b;u2\x02t3\n", encoding="utf-8")
    table = read_table({**data["train"], "path": str(path)})
    assert table.to_pydict() == {"clk": ["1", "0"], "user_id": ["u1", "u2"], "tags": ["t1\x03t2", "t3"]}


def test_combo_example_is_the_translation_and_crosses_values():
    import pyarrow as pa

    from recblocks.easyrec.feature_section import translate_feature
    from recblocks.features.cross import cross_values
    from recblocks.features.schema import Schema

    site_app, hour_apps = yaml.safe_load(_block("combo"))["features"]
    assert translate_feature({"input_names": ["site_id", "app_id"], "feature_name": "site_app", "embedding_dim": 16,
                              "feature_type": "ComboFeature", "hash_bucket_size": 1000}, "f") == site_app
    assert translate_feature({"input_names": ["hour", "app_ids"], "feature_name": "hour_apps", "combo_join_sep": "X",
                              "combo_input_seps": ["", ","], "feature_type": "ComboFeature",
                              "hash_bucket_size": 1000}, "f") == hour_apps
    cross = Schema([site_app, hour_apps])["hour_apps"].cross
    crossed = cross_values([pa.array([7]), pa.array(["a,b"])], cross.column_separators(), cross.join, "hour_apps")
    assert crossed.to_pylist() == [["7Xa", "7Xb"]]
