"""A small model following TrainableModel, a learnable synthetic problem and a loader."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from recblocks.core.context import LossTerms
from recblocks.features.batch import Batch
from recblocks.models import ModelOutput, TaskEvaluator, TaskHeads
from recblocks.tasks import BinaryClassificationTask, Task


class FakeModel(nn.Module):
    """logit_t = Linear([x1, x2, user_emb]) + user_bias (binary/regression: one column each).

    Follows the trainer contract with the library's task pieces (TaskHeads, TaskEvaluator).
    """

    def __init__(self, tasks: list[Task] | None = None, num_users: int = 50, dim: int = 4, sparse: bool = True,
                 l2: float = 0.0, embedding_regularization: float = 0.0, output_shape_bug: bool = False) -> None:
        super().__init__()
        self.tasks = tasks if tasks is not None else [BinaryClassificationTask("click")]
        self.user = nn.Embedding(num_users, dim, sparse=sparse)
        self.bias = nn.Embedding(num_users, 1, sparse=sparse)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.zeros_(self.bias.weight)
        self.widths = [t.output_dim for t in self.tasks]
        self.dense = nn.Linear(2 + dim, sum(self.widths))
        self.l2 = l2
        self.embedding_regularization = embedding_regularization
        self.output_shape_bug = output_shape_bug
        self.heads = TaskHeads(self.tasks)

    def forward(self, batch: Batch | dict[str, torch.Tensor]) -> ModelOutput:
        features = batch.features if isinstance(batch, Batch) else batch
        ids = features["user"]
        u = self.user(ids)
        b = self.bias(ids)
        h = torch.cat([features["x1"].unsqueeze(1), features["x2"].unsqueeze(1), u], dim=1)
        out = self.dense(h)
        logits = {}
        start = 0
        for task, width in zip(self.tasks, self.widths):
            block = out[:, start:start + width]
            start += width
            if task.task_type == "multiclass":
                logits[task.name] = block
            else:
                logits[task.name] = block if self.output_shape_bug else block[:, 0] + b[:, 0]
        return ModelOutput(logits, lookups=[u, b])

    def regularization(self, outputs: ModelOutput) -> torch.Tensor:
        loss = torch.zeros(())
        if self.l2:
            loss = loss + self.l2 * self.dense.weight.pow(2).sum()
        if self.embedding_regularization:
            loss = loss + self.embedding_regularization * sum(t.pow(2).sum() for t in outputs.lookups)
        return loss

    def loss(self, outputs: ModelOutput, batch: Batch) -> LossTerms:
        regularization = self.regularization(outputs)
        tasks, total = self.heads.terms(outputs.logits, batch.labels, regularization)
        return LossTerms(total, tasks, {}, regularization)

    def evaluator(self, gauc_group: str | None = None) -> TaskEvaluator:
        return TaskEvaluator(self.tasks, gauc_group)

    def predictions(self, outputs: ModelOutput) -> dict[str, torch.Tensor]:
        return self.heads.activate(outputs.logits)

    def check_batch(self, batch: Batch, where: str) -> None:
        self.heads.check_batch(batch, where)

    def check_outputs(self, outputs: ModelOutput, batch: Batch, where: str) -> None:
        self.heads.check_logits(outputs.logits, len(batch))

    def embedding_parameters(self) -> list[nn.Parameter]:
        return [self.user.weight, self.bias.weight]

    def dense_parameters(self) -> list[nn.Parameter]:
        return list(self.dense.parameters())


def make_data(n: int = 2000, seed: int = 0, num_users: int = 50, flip: bool = False, noise: float = 0.5) -> Batch:
    """Binary clicks from ``user bias + 1.5·x1 - x2 + noise``; ``flip`` inverts the relation."""
    g = torch.Generator().manual_seed(seed)
    user_bias = torch.randn(num_users, generator=torch.Generator().manual_seed(1234)) * 1.5
    users = torch.randint(0, num_users, (n,), generator=g)
    x1 = torch.randn(n, generator=g)
    x2 = torch.randn(n, generator=g)
    logit = user_bias[users] + 1.5 * x1 - x2 + noise * torch.randn(n, generator=g)
    click = (logit > 0).float()
    if flip:
        click = 1.0 - click
    rating = logit.clamp(-3, 3) + 3.0
    return Batch(features={"user": users, "x1": x1, "x2": x2},
                 labels={"click": click, "rating": rating, "genre": (users % 3).long()},
                 extras={"user_id": users, "row": torch.arange(n)})


class Loader:
    """Batches cut from one Batch; reshuffled per epoch when ``shuffle``."""

    def __init__(self, data: Batch, batch_size: int = 128, shuffle: bool = False, seed: int = 0) -> None:
        self.data, self.batch_size, self.shuffle, self.seed = data, batch_size, shuffle, seed
        self.epoch = 0
        self.epochs_seen: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.epochs_seen.append(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.data) / self.batch_size)

    def __iter__(self):
        n = len(self.data)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
            for start in range(0, n, self.batch_size):
                yield self.data.take(order[start:start + self.batch_size])
        else:
            for start in range(0, n, self.batch_size):
                yield self.data.slice(start, start + self.batch_size)


@pytest.fixture
def fake() -> SimpleNamespace:
    return SimpleNamespace(Model=FakeModel, Loader=Loader, data=make_data)
