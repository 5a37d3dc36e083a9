"""Models own their loss: three test-only models train through the unchanged Trainer.

(a) a two-label model (click + like heads, two BCE terms, its own per-label AUC evaluator);
(b) an in-batch-softmax two-tower model (logits = U·Iᵀ / temperature, cross-entropy with the
    diagonal as targets) with its own evaluator: Recall@10 of each user's item against the
    whole item catalogue;
(c) a config-built RankModel whose backbone holds a test-only component that adds a weighted
    auxiliary loss and an extra output through the forward context, trained by ``train_run``.

Each run logs its loss terms separately (per epoch, per log window); the trainer is the
library's, used as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from recblocks.core import ConfigError, DataError, LossTerms
from recblocks.features.batch import Batch
from recblocks.features.schema import Schema
from recblocks.metrics import auc
from recblocks.models import RankModel, parse_model_config
from recblocks.runs import RunDir, RunDirCallback
from recblocks.training import Callback, Trainer
from recblocks.runs import evaluate_run, predict_run, train_run
from tests.context_probe import register_probe

FAST = {"optimizer": {"lr": 0.02}, "progress": False}


class Loader:
    """Batches of one Batch, reshuffled per epoch."""

    def __init__(self, data: Batch, batch_size: int, shuffle: bool = True) -> None:
        self.data, self.batch_size, self.shuffle, self.epoch = data, batch_size, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        n = len(self.data)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.epoch)) if self.shuffle \
            else torch.arange(n)
        for start in range(0, n, self.batch_size):
            yield self.data.take(order[start:start + self.batch_size])


class TermLog(Callback):
    """Keeps what ``on_log`` receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float, dict[str, float]]] = []

    def on_log(self, trainer: Any, step: int, loss: float, terms: dict[str, float]) -> None:
        self.calls.append((step, loss, terms))


def _require(batch: Batch, names: list[str], kind: str, where: str) -> None:
    columns = getattr(batch, kind)
    for name in names:
        if name not in columns:
            raise DataError(where, f"{kind} column '{name}' missing", f"one of {sorted(columns)}", repr(name))


# -- (a) two labels -------------------------------------------------------------------------------

class PerLabelAUC:
    """AUC of each label over the whole evaluation set."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.keys = [f"{label}/auc" for label in labels]
        self.default_monitor = (self.keys[0], "max")
        self.scores: dict[str, list[torch.Tensor]] = {label: [] for label in labels}
        self.truth: dict[str, list[torch.Tensor]] = {label: [] for label in labels}

    def update(self, outputs: dict[str, torch.Tensor], batch: Batch) -> None:
        for label in self.labels:
            self.scores[label].append(torch.sigmoid(outputs[label]))
            self.truth[label].append(batch.labels[label])

    def compute(self) -> dict[str, float]:
        return {f"{label}/auc": auc(torch.cat(self.truth[label]).numpy(), torch.cat(self.scores[label]).numpy())
                for label in self.labels}


class TwoLabelModel(nn.Module):
    """Shared user/item embeddings and a bottom MLP; one logit head for click, one for like.

    ``loss = bce(click) + 0.5 · bce(like)``; outputs are a plain dict (opaque to the trainer).
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 8) -> None:
        super().__init__()
        self.user, self.item = nn.Embedding(num_users, dim), nn.Embedding(num_items, dim)
        self.bottom = nn.Sequential(nn.Linear(2 * dim, 16), nn.ReLU())
        self.click_head, self.like_head = nn.Linear(16, 1), nn.Linear(16, 1)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        h = self.bottom(torch.cat([self.user(batch.features["user"]), self.item(batch.features["item"])], dim=-1))
        return {"click": self.click_head(h).squeeze(-1), "like": self.like_head(h).squeeze(-1)}

    def loss(self, outputs: dict[str, torch.Tensor], batch: Batch) -> LossTerms:
        click = F.binary_cross_entropy_with_logits(outputs["click"], batch.labels["click"])
        like = F.binary_cross_entropy_with_logits(outputs["like"], batch.labels["like"])
        return LossTerms(click + 0.5 * like, {"click": click, "like": like})

    def evaluator(self, gauc_group: str | None = None) -> PerLabelAUC:
        return PerLabelAUC(["click", "like"])

    def predictions(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: torch.sigmoid(logits) for name, logits in outputs.items()}

    def check_batch(self, batch: Batch, where: str) -> None:
        _require(batch, ["click", "like"], "labels", where)

    def embedding_parameters(self) -> list[nn.Parameter]:
        return [self.user.weight, self.item.weight]

    def dense_parameters(self) -> list[nn.Parameter]:
        tables = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in tables]


def two_label_data(rows: int, seed: int, users: int = 60, items: int = 40) -> Batch:
    """click depends on the user only, like on the item only (logits 3·N(0, 1))."""
    taste = torch.randn(users, generator=torch.Generator().manual_seed(7)) * 3
    appeal = torch.randn(items, generator=torch.Generator().manual_seed(8)) * 3
    g = torch.Generator().manual_seed(seed)
    user, item = torch.randint(0, users, (rows,), generator=g), torch.randint(0, items, (rows,), generator=g)
    click = torch.bernoulli(torch.sigmoid(taste[user]), generator=g)
    like = torch.bernoulli(torch.sigmoid(appeal[item]), generator=g)
    return Batch({"user": user, "item": item}, {"click": click, "like": like})


def test_a_two_label_model_trains_with_both_terms_logged(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TwoLabelModel(60, 40)
    log = TermLog()
    run = RunDir(tmp_path / "run")
    trainer = Trainer(model, {**FAST, "epochs": 4, "log_every": 10, "early_stopping": {"metric": "like/auc"}},
                      [RunDirCallback(run), log])
    assert trainer.metric_keys == ["click/auc", "like/auc"] and (trainer.monitor, trainer.mode) == ("like/auc", "max")
    valid = Loader(two_label_data(1000, seed=2), 500, shuffle=False)
    before = trainer.evaluate(valid)
    history = trainer.fit(Loader(two_label_data(4000, seed=1), 128), valid)
    best = history.best.valid
    assert best["click/auc"] > 0.85 and best["like/auc"] > 0.85, (before, best)  # chance 0.5
    assert before["click/auc"] < 0.65 and before["like/auc"] < 0.65
    for record in history.epochs:
        assert list(record.train_terms) == ["task/click", "task/like"]
        expected = record.train_terms["task/click"] + 0.5 * record.train_terms["task/like"]
        assert record.train_loss == pytest.approx(expected, rel=1e-5)
    assert history.train_terms[-1]["task/like"] < history.train_terms[0]["task/like"]
    assert log.calls and all(list(terms) == ["task/click", "task/like"] for _, _, terms in log.calls)
    assert log.calls[0][0] == 10  # every log_every steps
    predictions = trainer.predict(valid)
    assert list(predictions) == ["click", "like"] and predictions["like"].shape == (1000,)
    run.finish()
    lines = RunDir.open(run.path).read_epochs()
    assert [line["train_terms"] for line in lines] == [r.train_terms for r in history.epochs]


class ConfigTwoLabelModel(TwoLabelModel):
    """The two-label model as a registered model class: built from (schema, model section, table sizes)."""

    def __init__(self, schema: Schema, config: Any, vocab_sizes: dict[str, int], where: str = "model") -> None:
        super().__init__(vocab_sizes["user"], vocab_sizes["item"])


def test_a_registered_model_class_runs_through_train_run_and_predict(tmp_path: Path) -> None:
    """``model_class`` names a class registered later: config -> train_run -> evaluate/predict, with
    no change to the trainer or the orchestration; both loss terms reach epochs.jsonl."""
    from recblocks.models import MODEL_CLASSES

    data = two_label_data(3000, seed=1)
    table = pa.table({"user": [f"u{u}" for u in data.features["user"].tolist()],
                      "item": [f"i{i}" for i in data.features["item"].tolist()],
                      "click": data.labels["click"].numpy(), "like": data.labels["like"].numpy()})
    pq.write_table(table.slice(0, 2500), tmp_path / "train.parquet")
    pq.write_table(table.slice(2500), tmp_path / "valid.parquet")
    raw = {"data": {"train": str(tmp_path / "train.parquet"), "valid": str(tmp_path / "valid.parquet")},
           "features": [{"name": "user", "kind": "sparse"}, {"name": "item", "kind": "sparse"}],
           "model": {"model_class": "TwoLabel", "feature_groups": [{"group_name": "ids", "feature_names": ["user", "item"]}],
                     "backbone": {"blocks": [{"name": "ids", "inputs": [{"feature_group_name": "ids"}],
                                              "input_layer": {}}]},
                     "tasks": [{"name": "click", "type": "binary", "label": "click"},
                               {"name": "like", "type": "binary", "label": "like"}]},
           "train": {**FAST, "epochs": 3, "batch_size": 128, "early_stopping": {"metric": "like/auc"}}}
    with MODEL_CLASSES.scoped():
        MODEL_CLASSES.register("TwoLabel")(ConfigTwoLabelModel)
        result = train_run(raw, tmp_path / "run")
        assert isinstance(result.model, ConfigTwoLabelModel)
        assert result.valid_metrics["click/auc"] > 0.8 and result.valid_metrics["like/auc"] > 0.8
        epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
        assert all(list(e["train_terms"]) == ["task/click", "task/like"] for e in epochs)
        metrics, _ = evaluate_run(result.run_dir, tmp_path / "valid.parquet")
        assert metrics["like/auc"] == pytest.approx(result.valid_metrics["like/auc"])
        count, _ = predict_run(result.run_dir, tmp_path / "valid.parquet", tmp_path / "scores.parquet")
        assert count == 500 and pq.read_table(tmp_path / "scores.parquet").column_names == ["click", "like"]
    with pytest.raises(ConfigError, match="model.model_class: unknown model class"):
        train_run(raw, tmp_path / "again")


# -- (b) two towers, in-batch softmax --------------------------------------------------------------

class TowerOutputs(NamedTuple):
    user: torch.Tensor  # (B, D), unit length
    item: torch.Tensor  # (B, D), unit length


class CatalogRecall:
    """Recall@k of each row's item among every item of the catalogue, ranked by ``u · i``."""

    def __init__(self, model: "TwoTowerModel", k: int = 10) -> None:
        self.model, self.k = model, k
        self.keys = [f"recall@{k}"]
        self.default_monitor = (self.keys[0], "max")
        self.catalogue: torch.Tensor | None = None
        self.hits = self.rows = 0

    def update(self, outputs: TowerOutputs, batch: Batch) -> None:
        if self.catalogue is None:
            items = torch.arange(self.model.num_items, device=outputs.user.device)
            self.catalogue = self.model.item_vectors(items)  # (N, D), once
        top = (outputs.user @ self.catalogue.T).topk(self.k, dim=1).indices  # (B, k)
        self.hits += int((top == batch.features["item"].unsqueeze(1)).any(dim=1).sum())
        self.rows += len(batch)

    def compute(self) -> dict[str, float]:
        return {self.keys[0]: self.hits / max(self.rows, 1)}


class TwoTowerModel(nn.Module):
    """User tower and item tower (embedding + MLP, unit-normalised); in-batch softmax loss.

    ``logits = U Iᵀ / temperature`` ``(B, B)``; row b's positive is item b (the diagonal), every
    other item of the batch is a negative.
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 16, temperature: float = 0.1) -> None:
        super().__init__()
        self.num_items, self.temperature = num_items, temperature
        self.user, self.item = nn.Embedding(num_users, dim), nn.Embedding(num_items, dim)
        self.user_tower = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.item_tower = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.item_tower(self.item(items)), dim=-1)

    def forward(self, batch: Batch) -> TowerOutputs:
        user = F.normalize(self.user_tower(self.user(batch.features["user"])), dim=-1)
        return TowerOutputs(user, self.item_vectors(batch.features["item"]))

    def loss(self, outputs: TowerOutputs, batch: Batch) -> LossTerms:
        logits = outputs.user @ outputs.item.T / self.temperature
        softmax = F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))
        return LossTerms(softmax, {"in_batch_softmax": softmax})

    def evaluator(self, gauc_group: str | None = None) -> CatalogRecall:
        return CatalogRecall(self, k=10)

    def predictions(self, outputs: TowerOutputs) -> dict[str, torch.Tensor]:
        return {"score": (outputs.user * outputs.item).sum(dim=-1)}

    def check_batch(self, batch: Batch, where: str) -> None:
        _require(batch, ["user", "item"], "features", where)

    def embedding_parameters(self) -> list[nn.Parameter]:
        return [self.user.weight, self.item.weight]

    def dense_parameters(self) -> list[nn.Parameter]:
        tables = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in tables]


def retrieval_data(rows: int, seed: int, users: int = 200, items: int = 100, clusters: int = 5) -> Batch:
    """Each user (cluster ``u % 5``) interacts with items of its cluster (``i % 5``), the popular
    ones more (weights 1/rank): the top 10 of the cluster hold ~80% of a user's items."""
    g = torch.Generator().manual_seed(seed)
    user = torch.randint(0, users, (rows,), generator=g)
    per_cluster = items // clusters
    rank = torch.multinomial(1.0 / torch.arange(1, per_cluster + 1), rows, replacement=True, generator=g)
    item = rank * clusters + user % clusters
    return Batch({"user": user, "item": item})


def test_an_in_batch_softmax_two_tower_model_learns_catalogue_recall() -> None:
    torch.manual_seed(0)
    model = TwoTowerModel(200, 100)
    log = TermLog()
    trainer = Trainer(model, {**FAST, "optimizer": {"lr": 0.01}, "epochs": 5, "log_every": 8}, [log])
    assert trainer.metric_keys == ["recall@10"] and (trainer.monitor, trainer.mode) == ("recall@10", "max")
    valid = Loader(retrieval_data(1000, seed=2), 250, shuffle=False)
    chance = 10 / 100
    before = trainer.evaluate(valid)["recall@10"]
    history = trainer.fit(Loader(retrieval_data(6000, seed=1), 256), valid)
    after = history.best.valid["recall@10"]
    assert before < 2 * chance and after > 4 * chance, (before, after)
    assert all(list(r.train_terms) == ["task/in_batch_softmax"] for r in history.epochs)
    assert history.train_loss[-1] < history.train_loss[0]
    assert log.calls and all(list(terms) == ["task/in_batch_softmax"] for _, _, terms in log.calls)
    assert trainer.predict(valid)["score"].shape == (1000,)
    # early stopping on the evaluator's own key: direction from its default monitor
    stopping = Trainer(TwoTowerModel(200, 100), {**FAST, "early_stopping": {"metric": "recall@10"}})
    assert (stopping.monitor, stopping.mode) == ("recall@10", "max")
    with pytest.raises(ConfigError, match=r"train.early_stopping.metric: the metric is not reported; expected one "
                                          r"of \['recall@10'\], got 'recall@5'; did you mean 'recall@10'\?"):
        Trainer(TwoTowerModel(200, 100), {**FAST, "early_stopping": {"metric": "recall@5"}})


# -- (c) a block adds an auxiliary loss and an extra output, config-built, through train_run -----

CONFIG = """
features:
  - {name: user, kind: sparse, embedding_dim: 4}
  - {name: item, kind: sparse, embedding_dim: 4}
  - {name: price, kind: dense}
model:
  feature_groups:
    - {group_name: all, feature_names: [user, item, price]}
  backbone:
    blocks:
      - name: deep
        inputs: [{feature_group_name: all}]
        component: {class_name: MLP, params: {hidden_units: [16]}}
      - name: aux
        inputs: [{block_name: deep}]
        component:
          class_name: AuxiliaryProbe
          params: {label: label, loss_name: click_aux, loss_weight: 0.5, output_name: aux_score}
    concat_blocks: [aux]
  task: {type: binary, label: label}
  embedding_regularization: 0.0001
train: {epochs: 3, batch_size: 32, progress: false, optimizer: {lr: 0.01}}
"""


def ctr_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    taste, appeal = np.random.default_rng(5).normal(size=20) * 2, np.random.default_rng(6).normal(size=15) * 2
    user, item, price = rng.integers(0, 20, rows), rng.integers(0, 15, rows), rng.normal(size=rows)
    logit = taste[user] + appeal[item] - price
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({"user": [f"u{u}" for u in user], "item": [f"i{i}" for i in item], "price": price,
                     "label": label})


def test_a_block_adds_a_weighted_auxiliary_loss_and_an_extra_output_through_train_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_probe(monkeypatch)
    paths = {}
    for split, rows, seed in (("train", 800, 1), ("valid", 300, 2), ("score", 50, 3)):
        paths[split] = tmp_path / f"{split}.parquet"
        pq.write_table(ctr_table(rows, seed), paths[split])
    raw = yaml.safe_load(CONFIG)
    raw["data"] = {"train": str(paths["train"]), "valid": str(paths["valid"])}
    result = train_run(raw, tmp_path / "run")
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    assert len(epochs) == 3
    for epoch in epochs:
        terms = epoch["train_terms"]
        assert list(terms) == ["task/ctr", "aux/click_aux", "regularization"]
        expected = terms["task/ctr"] + 0.5 * terms["aux/click_aux"] + terms["regularization"]
        assert epoch["train_loss"] == pytest.approx(expected, rel=1e-5)
        assert terms["regularization"] > 0
    assert epochs[-1]["train_terms"]["aux/click_aux"] < epochs[0]["train_terms"]["aux/click_aux"]
    assert result.valid_metrics["auc"] > 0.7  # the main task learns; the aux head shares its input
    count, _ = predict_run(result.run_dir, paths["score"], tmp_path / "scores.parquet")
    scores = pq.read_table(tmp_path / "scores.parquet")
    assert count == 50 and scores.column_names == ["ctr", "aux_score"]
    aux = scores.column("aux_score").to_numpy()
    assert ((aux > 0) & (aux < 1)).all() and not np.allclose(aux, scores.column("ctr").to_numpy())
    metrics, _ = evaluate_run(result.run_dir, paths["valid"])
    assert metrics["auc"] == pytest.approx(result.valid_metrics["auc"])


def test_context_and_monitor_errors_come_before_any_data_is_read(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    register_probe(monkeypatch)
    raw = yaml.safe_load(CONFIG)
    raw["data"] = {"train": str(tmp_path / "missing.parquet")}
    blocks = raw["model"]["backbone"]["blocks"]
    blocks.append({"name": "again", "inputs": [{"block_name": "aux"}], "component": dict(blocks[1]["component"])})
    raw["model"]["backbone"]["concat_blocks"] = ["again"]
    with pytest.raises(ConfigError, match="^loss 'click_aux': the auxiliary loss is added twice in one forward pass"):
        train_run(raw, tmp_path / "run")
    raw = yaml.safe_load(CONFIG)
    raw["data"] = {"train": str(tmp_path / "missing.parquet")}
    raw["train"]["early_stopping"] = {"metric": "acu"}
    with pytest.raises(ConfigError, match="^train.early_stopping.metric: the metric is not reported.*did you mean "
                                          "'auc'"):
        train_run(raw, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def ctr_batch(rows: int, seed: int) -> Batch:
    """Encoded ids (2.. for seen values) of the CONFIG features, labels from a planted logit."""
    g = torch.Generator().manual_seed(seed)
    user, item, price = torch.randint(2, 22, (rows,), generator=g), torch.randint(2, 17, (rows,), generator=g), \
        torch.randn(rows, generator=g)
    logit = torch.sin(user.float()) * 2 + torch.cos(item.float()) * 2 - price
    return Batch({"user": user, "item": item, "price": price},
                 {"label": torch.bernoulli(torch.sigmoid(logit), generator=g)})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_three_kinds_of_model_train_on_a_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Terms on the device and on the CPU (RankModel's zero-dim regularization) mix in one log."""
    register_probe(monkeypatch)
    raw = yaml.safe_load(CONFIG)
    torch.manual_seed(0)
    ranker = RankModel(Schema(raw["features"]), parse_model_config(raw["model"]), {"user": 22, "item": 17}).cuda()
    trainer = Trainer(ranker, {**FAST, "epochs": 2, "log_every": 5})
    valid = Loader(ctr_batch(500, seed=2), 250, shuffle=False)
    history = trainer.fit(Loader(ctr_batch(2000, seed=1), 64), valid)
    assert list(history.epochs[-1].train_terms) == ["task/ctr", "aux/click_aux", "regularization"]
    assert history.best.valid["auc"] > 0.7
    predictions = trainer.predict(valid)
    assert list(predictions) == ["ctr", "aux_score"] and predictions["aux_score"].shape == (500,)
    towers = TwoTowerModel(200, 100).cuda()
    recall = Trainer(towers, {**FAST, "optimizer": {"lr": 0.01}, "epochs": 5}).fit(
        Loader(retrieval_data(6000, seed=1), 256), Loader(retrieval_data(1000, seed=2), 250, shuffle=False))
    assert recall.best.valid["recall@10"] > 0.4
    labels = Trainer(TwoLabelModel(60, 40).cuda(), {**FAST, "epochs": 2}).fit(
        Loader(two_label_data(4000, seed=1), 128), Loader(two_label_data(1000, seed=2), 500, shuffle=False))
    assert labels.best.valid["like/auc"] > 0.8
