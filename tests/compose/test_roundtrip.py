"""Config <-> Python round trips: the same graph, the same parameter names, the same outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from recblocks.blocks.compose import CrossBlock, EmbeddingFeatures, MLPBlock
from recblocks.features.schema import Schema
from recblocks.runs import Model, Ranking
from recblocks.tasks import BinaryClassificationTask, LogitsTemperatureScaler
from recblocks.runs import placeholder_vocab
from recblocks.runs import parse_run_config

REPO = Path(__file__).resolve().parents[2]


def zoo_configs() -> list[Path]:
    return sorted((REPO / "configs").glob("**/*.yaml")) + [REPO / "src/recblocks/resources/demo.yaml"]


def random_batch(schema: Schema, vocab: dict[str, int], batch: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for f in schema:
        if f.kind == "dense":
            out[f.name] = torch.randn(batch, generator=g)
        elif f.kind in ("multi", "sequence"):
            out[f.name] = torch.randint(0, vocab[f.name], (batch, f.max_len), generator=g)
        else:
            out[f.name] = torch.randint(1, vocab[f.name], (batch,), generator=g)
    return out


def _outputs(output) -> dict[str, torch.Tensor]:
    """Task logits of a ranking model; user and item vectors of a MatchModel."""
    if hasattr(output, "logits"):
        return dict(output.logits)
    return {"user": output.user, "item": output.item}


def assert_same_network(first: Model, second: Model) -> None:
    """Build both with the same placeholder sizes, load 1 -> 2 (strict), compare eval outputs."""
    config = first.to_config()
    assert second.to_config() == config
    schema = Schema(config["features"])
    vocab = placeholder_vocab(schema)
    torch.manual_seed(0)
    a = first.build(vocab)
    torch.manual_seed(1)
    b = second.build(vocab)
    b.load_state_dict(a.state_dict(), strict=True)
    a.eval()
    b.eval()
    batch = random_batch(schema, vocab)
    with torch.no_grad():
        out_a, out_b = _outputs(a(batch)), _outputs(b(batch))
    assert out_a.keys() == out_b.keys()
    for name in out_a:
        torch.testing.assert_close(out_a[name], out_b[name], rtol=0, atol=0)


@pytest.mark.parametrize("path", zoo_configs(), ids=lambda p: str(p.relative_to(REPO)))
def test_zoo_config_round_trip(path):
    raw = yaml.safe_load(path.read_text())
    first = Model.from_config(raw)
    saved = first.to_config()
    yaml.safe_dump(saved)  # plain data
    second = Model.from_config(saved)
    assert_same_network(first, second)
    assert saved["model"]["backbone"] == raw["model"]["backbone"]
    assert saved["model"]["feature_groups"] == raw["model"]["feature_groups"]
    if raw["model"].get("model_class") == "MatchModel":  # written in canonical spellings: the whole section
        assert saved["model"] == raw["model"]
    run = first.to_run_config()  # the loaded data/train sections come back
    assert run.get("data") == raw.get("data") and run.get("train") == raw.get("train")
    parse_run_config(run)


def test_python_dlrm_round_trip(make_dlrm, ml100k_features, tmp_path):
    task = BinaryClassificationTask("label", pre=LogitsTemperatureScaler(2))
    model = Model(make_dlrm(), task, ml100k_features, model_name="DLRM")
    path = model.save_config(tmp_path / "dlrm.yaml", train={"epochs": 1})
    reloaded = Model.from_config(path)
    assert reloaded.train_config == {"epochs": 1}
    assert_same_network(model, reloaded)
    assert_same_network(model, Model.from_config(model.to_config()))


def test_config_changed_in_python_and_saved_again(tmp_path):
    deepfm = Model.from_config(REPO / "configs/ml100k_ctr/deepfm.yaml")
    deeper = Model(deepfm.body.connect(MLPBlock([8], name="extra")), deepfm.tasks, deepfm.schema, **deepfm.options)
    config = deeper.to_config()
    names = [b["name"] for b in config["model"]["backbone"]["blocks"]]
    assert names[:-1] == [b["name"] for b in deepfm.to_config()["model"]["backbone"]["blocks"]]
    assert names[-1] == "extra" and config["model"]["backbone"]["concat_blocks"] == ["extra"]
    assert config["model"]["backbone"]["blocks"][-1]["inputs"] == [{"block_name": "add"}]
    path = tmp_path / "deeper.yaml"
    deeper.save_config(path, data=deepfm.data_config, train=deepfm.train_config)
    assert_same_network(deeper, Model.from_config(path))
    dcn = Model.from_config(REPO / "configs/ml100k_ctr/dcn_v2.yaml")
    extended = Model(dcn.body.connect(CrossBlock(depth=2)), dcn.tasks, dcn.schema)
    blocks = extended.to_config()["model"]["backbone"]
    assert blocks["blocks"][-2]["name"] == "top_mlp" and blocks["blocks"][-1]["inputs"] == [{"block_name": "top_mlp"}]
    assert_same_network(extended, Model.from_config(extended.to_config()))


def test_ranking_round_trip(ml100k_features):
    ranking = Ranking(EmbeddingFeatures(embedding_dim=16), task=BinaryClassificationTask("label"),
                      schema=ml100k_features)
    assert_same_network(ranking, Model.from_config(ranking.to_config()))
