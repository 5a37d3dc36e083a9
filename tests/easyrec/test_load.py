"""EasyRec config files are recognised (suffix, then content) and loaded as run configs."""

from __future__ import annotations

from pathlib import Path

from recblocks.easyrec.load import is_easyrec_file
from recblocks.runs import Model, load_config_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _pipeline(number: int) -> str:
    return ((FIXTURES / f"seed_case_{number}_pipeline.config").read_text(encoding="utf-8")
            + (FIXTURES / f"seed_case_{number}.config").read_text(encoding="utf-8"))


def test_suffix_and_content_sniffing(tmp_path):
    text = _pipeline(3)
    as_txt = tmp_path / "dcn.txt"
    as_txt.write_text(text, encoding="utf-8")
    yaml_file = tmp_path / "run.txt"
    yaml_file.write_text("model_dir: x\nfeatures: []\n", encoding="utf-8")
    assert is_easyrec_file(tmp_path / "a.config") and is_easyrec_file(as_txt)
    assert not is_easyrec_file(yaml_file) and not is_easyrec_file(tmp_path / "run.yaml")


def test_a_config_file_loads_with_paths_against_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "cfg"
    folder.mkdir()
    path = folder / "case1.prototxt"
    path.write_text(_pipeline(1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    raw = load_config_file(path)
    assert raw["data"]["train"]["path"] == str(folder / "data" / "movielens_train.tsv")
    assert raw["data"]["train"]["column_names"][:3] == ["label", "user_id", "movie_id"]
    model = Model.from_config(path)
    assert [task["label"] for task in model.to_config()["model"]["tasks"]] == ["label"]
    assert [f["name"] for f in model.to_config()["features"]][:2] == ["user_id", "movie_id"]
