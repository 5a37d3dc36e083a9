"""Optimizers and learning-rate schedules are registries: every fact on the registration, an
unknown name a ConfigError with a suggestion, and a new entry usable without editing a table."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
from pydantic import Field

from recblocks.core import ConfigError
from recblocks.core.params import parse_params
from recblocks.training import (
    OPTIMIZERS,
    SCHEDULES,
    OptimizerSpec,
    Schedule,
    TrainConfig,
    build_optimizer,
    parse_schedule,
)


def test_optimizer_facts_live_on_the_registrations():
    assert OPTIMIZERS.names() == ["adagrad", "adam", "adamw", "ftrl", "rowwise_adagrad", "sgd", "sgdw"]
    assert OPTIMIZERS.get("Adam_Optimizer").name == "adam"  # EasyRec spelling, any case
    assert all(spec.sparse is not None for spec in OPTIMIZERS.entries())  # each has a row-wise form
    rows = {row["name"]: row for row in OPTIMIZERS.describe()}
    assert rows["sgd"]["options"] == ["momentum", "nesterov", "weight_decay"] and rows["sgd"]["sparse_options"] == []
    assert "SparseAdam" in rows["adam"]["summary"]


def test_unknown_optimizer_and_schedule_fail_when_the_config_is_read():
    with pytest.raises(ConfigError, match=r"^train.optimizer.name: unknown optimizer; expected one of "
                                          r"\['adagrad', 'adam', 'adamw', 'ftrl', 'rowwise_adagrad', 'sgd', 'sgdw'\], got 'adma'; did you mean 'adam'\?"):
        parse_params(TrainConfig, {"optimizer": {"name": "adma"}}, "train")
    with pytest.raises(ConfigError, match=r"^train.embedding_optimizer.name: .*did you mean 'adagrad'"):
        parse_params(TrainConfig, {"embedding_optimizer": {"name": "adagard"}}, "train")
    with pytest.raises(ConfigError, match=r"^train.lr_schedule.type: unknown learning-rate schedule.*"
                                          r"did you mean 'exponential_decay'"):
        parse_params(TrainConfig, {"lr_schedule": {"type": "exponential_decy"}}, "train")
    with pytest.raises(ConfigError, match=r"^train.lr_schedule.decay_steps: Input should be greater than 0"):
        parse_params(TrainConfig, {"lr_schedule": {"exponential_decay_learning_rate": {"decay_steps": 0}}}, "train")
    with pytest.raises(ConfigError, match=r"^train.optimizer: betas is an adam/adamw option; sgd has none"):
        parse_params(TrainConfig, {"optimizer": {"name": "sgd", "betas": [0.5, 0.9]}}, "train")


def _rmsprop(params, cfg, lr):
    return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def test_an_optimizer_registered_later_needs_no_table(fake):
    with OPTIMIZERS.scoped():
        OPTIMIZERS.add(OptimizerSpec(name="rmsprop", dense=_rmsprop, sparse=None, options=("momentum", "weight_decay"),
                                     aliases=("rms_prop_optimizer",)))
        config = TrainConfig(optimizer={"name": "rms_prop_optimizer", "momentum": 0.5})
        assert config.optimizer.name == "rmsprop"
        optimizer = build_optimizer(fake.Model(sparse=False), config)
        assert isinstance(optimizer.optimizers["dense"], torch.optim.RMSprop)
        with pytest.raises(ConfigError, match="rmsprop has no row-wise form for sparse tables"):
            build_optimizer(fake.Model(sparse=True), config)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        TrainConfig(optimizer={"name": "rmsprop"})


class _WarmupSchedule(Schedule):
    """Linear warm-up to the base learning rate over ``warmup_steps`` (test-only)."""

    type: Literal["warmup"] = "warmup"
    warmup_steps: int = Field(default=10, gt=0)

    def learning_rate_at(self, step: int, base_lr: float) -> float:
        return base_lr * min(1.0, (step + 1) / self.warmup_steps)


def test_a_schedule_registered_later_needs_no_table():
    with SCHEDULES.scoped():
        SCHEDULES.register("warmup", aliases=("linear_warmup",))(_WarmupSchedule)
        config = TrainConfig(optimizer={"lr": 0.1}, lr_schedule={"linear_warmup": {"warmup_steps": 4}})
        assert isinstance(config.lr_schedule, _WarmupSchedule)
        assert [config.learning_rate_multiplier(s) for s in (0, 1, 3, 9)] == [0.25, 0.5, 1.0, 1.0]
        assert config.to_dict()["lr_schedule"] == {"type": "warmup", "warmup_steps": 4}
        assert parse_schedule({"warmup_steps": 2}).type == "warmup"  # the keys reveal the type
    with pytest.raises(ConfigError, match="train.lr_schedule.type: unknown learning-rate schedule"):
        TrainConfig(lr_schedule={"type": "warmup"})
