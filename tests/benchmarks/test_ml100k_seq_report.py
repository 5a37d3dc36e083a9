"""benchmarks/ml100k_seq.py: the table of ``--select`` runs has no test column, a full run's has both."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ml100k_seq.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ml100k_seq_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(model, seed, valid, select, test=None, overrides=()):
    record = {"model": model, "seed": seed, "overrides": list(overrides), "select": select, "valid_auc": valid,
              "valid_gauc": valid - 0.01, "best_epoch": 2, "epochs_run": 3, "params": 1234}
    if test is not None:
        record |= {"test_auc": test, "test_gauc": test - 0.02}
    return record


def test_select_table_has_valid_metrics_only(bench):
    records = [_record("din", 0, 0.70, True), _record("din", 1, 0.72, True),
               _record("din", 0, 0.60, True, overrides=["train.epochs=5"])]
    lines = bench.table(records).splitlines()
    assert "test" not in lines[0] and "valid GAUC" in lines[0]
    # mean and sample std of 0.70 and 0.72: 0.71 ± 0.0141; GAUC 0.01 lower
    assert lines[2] == "| din | - | 0.7100 ± 0.0141 | 0.7000 ± 0.0141 | 1,234 | 2/3, 2/3 |"
    assert lines[3].startswith("| din | train.epochs=5 | 0.6000 ± 0.0000 |")


def test_full_table_adds_test_auc_and_gauc(bench):
    lines = bench.table([_record("base", 0, 0.68, False, test=0.70), _record("base", 1, 0.68, False, test=0.72)]).splitlines()
    assert "test AUC" in lines[0] and "test GAUC" in lines[0]
    assert lines[2] == "| base | - | 0.6800 ± 0.0000 | 0.6700 ± 0.0000 | 0.7100 ± 0.0141 | 0.6900 ± 0.0141 | 1,234 | 2/3, 2/3 |"


def test_select_run_never_reads_the_test_split(bench, monkeypatch, tmp_path):
    seen = {}

    def fake_train_run(raw, run_dir, overwrite):
        seen.update(raw["data"])
        raise RuntimeError("stop")

    monkeypatch.setattr("recblocks.runs.train_run", fake_train_run)
    with pytest.raises(RuntimeError, match="stop"):
        bench.run_one("base", tmp_path, 0, [], select=True)
    assert seen["test"] is None and seen["valid"] == str(tmp_path / "valid.parquet")


def test_rating_variants_differ_from_their_zoo_config_only_by_the_feedback(bench):
    from recblocks.runs.config_file import load_config_file

    folder = SCRIPT.parent / "ml100k_seq_variants"
    variants = sorted(folder.glob("*_rating*.yaml"))
    assert {p.stem for p in variants} >= {"din_rating", "bst_rating", "dien_rating", "din_rating_pool"}
    for path in variants:
        raw = load_config_file(path)
        model = path.stem.split("_")[0]  # DIN's variants start from DIN without feedback (din_ids.yaml)
        zoo = load_config_file(folder / "din_ids.yaml" if model == "din" else bench.CONFIGS / f"{model}.yaml")
        if model == "dien":  # the variant was studied before the zoo DIEN gained the auxiliary loss
            zoo["model"]["backbone"]["blocks"][1]["component"]["params"].pop("aux_loss_weight")
        assert raw["features"] == [*zoo["features"], {"name": "hist_rating", "kind": "sequence", "max_len": 20}]
        assert raw["model"]["feature_groups"][2]["feature_names"] == ["hist_movie_id", "hist_genre", "hist_rating",
                                                                      "movie_id", "genre"]
        raw["features"], raw["model"]["feature_groups"] = zoo["features"], zoo["model"]["feature_groups"]
        if path.stem.endswith("_pool"):
            assert raw["model"]["backbone"]["blocks"][1]["component"]["params"].pop("pool_full_sequence") is True
        assert raw == zoo, path.name


def test_the_zoo_din_is_din_over_ids_plus_the_relative_ratings(bench):
    from recblocks.runs.config_file import load_config_file

    zoo = load_config_file(bench.CONFIGS / "din.yaml")
    ids = load_config_file(SCRIPT.parent / "ml100k_seq_variants" / "din_ids.yaml")
    rel = {"name": "hist_rating_rel", "kind": "sequence", "max_len": 20}
    assert zoo["features"] == [*ids["features"][:11], rel]
    assert zoo["model"]["feature_groups"][2]["feature_names"] == ["hist_movie_id", "hist_genre", "hist_rating_rel",
                                                                  "movie_id", "genre"]
    zoo["features"], zoo["model"]["feature_groups"] = ids["features"], ids["model"]["feature_groups"]
    assert zoo == ids


def test_early_regime_cuts_the_train_file_in_time_and_reads_nothing_else(bench, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # 8 rows = the first 80% of 10; the cut is the timestamp of row int(0.7 * 10) = 7, ties kept together
    stamps = [1, 2, 3, 4, 5, 6, 8, 8]
    pq.write_table(pa.table({"timestamp": stamps, "label": [0, 1] * 4}), tmp_path / "train.parquet")
    work = bench.early_regime(tmp_path)  # no valid/test file exists: reading one would fail
    train, valid = (pq.read_table(work / f"{s}.parquet") for s in ("train", "valid"))
    assert train["timestamp"].to_pylist() == [1, 2, 3, 4, 5, 6]
    assert valid["timestamp"].to_pylist() == [8, 8]
    assert sorted(p.name for p in work.iterdir()) == ["train.parquet", "valid.parquet"]


def test_regime_is_named_in_the_table_row(bench):
    record = _record("din", 0, 0.70, True) | {"regime": "early"}
    assert bench.table([record]).splitlines()[2].startswith("| din | regime=early | 0.7000 ± 0.0000 |")


def test_the_mean_pool_variant_is_the_zoo_din_plus_a_mean_pooled_history(bench):
    from recblocks.runs.config_file import load_config_file

    zoo = load_config_file(bench.CONFIGS / "din.yaml")
    raw = load_config_file(SCRIPT.parent / "ml100k_seq_variants" / "din_rel_meanpool.yaml")
    groups, backbone = raw["model"]["feature_groups"], raw["model"]["backbone"]
    assert groups.pop() == {"group_name": "hist_mean", "feature_names": ["hist_movie_id", "hist_genre"]}
    assert backbone["blocks"].pop() == {"name": "hist_mean_in", "inputs": [{"feature_group_name": "hist_mean"}]}
    assert backbone["concat_blocks"].pop() == "hist_mean_in"
    assert raw == zoo


@pytest.mark.parametrize("model", ["din", "dien", "bst"])
def test_each_sequence_zoo_model_is_base_plus_its_sequence_part(bench, model):
    """Take the sequence features, group and blocks out of din/dien/bst and base is left, top MLP and all."""
    from recblocks.runs.config_file import load_config_file

    base, raw = (load_config_file(bench.CONFIGS / f"{m}.yaml") for m in ("base", model))
    assert [f for f in raw["features"] if f["kind"] != "sequence"] == base["features"]
    assert raw["model"]["feature_groups"][:2] == base["model"]["feature_groups"]
    base_mlp = base["model"]["backbone"]["blocks"][0]
    assert base_mlp["inputs"] == [{"feature_group_name": "user"}, {"feature_group_name": "item"}]
    backbone = raw["model"]["backbone"]
    assert backbone["top_mlp"] == base_mlp["component"]["params"]  # hidden units and dropout alike
    assert [b["inputs"] for b in backbone["blocks"][2:]] == [[{"feature_group_name": "user"}],
                                                              [{"feature_group_name": "item"}]]
    assert backbone["concat_blocks"] == [backbone["blocks"][1]["name"], "user_in", "item_in"]
    for key in ("model_name", "feature_groups", "backbone"):
        raw["model"].pop(key), base["model"].pop(key)
    raw.pop("features"), base.pop("features")
    assert raw == base
