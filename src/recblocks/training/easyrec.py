"""Translate EasyRec's ``train_config`` / ``data_config`` (as dicts) into a :class:`TrainConfig`.

The mapping itself is :func:`recblocks.easyrec.train_section.train_section` (plain dicts, in the
``easyrec`` package, which the whole-pipeline translation also uses); this module validates its
result as a :class:`TrainConfig`. See that module for what maps to what.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.params import parse_params
from recblocks.easyrec.train_section import train_section
from recblocks.training.config import TrainConfig

__all__ = ["train_config_from_easyrec"]


def train_config_from_easyrec(train_config: Mapping[str, Any], data_config: Mapping[str, Any] | None = None,
                              where: str = "train_config") -> TrainConfig:
    """A :class:`TrainConfig` from EasyRec's ``train_config`` (+ ``data_config``) as dicts.

    Example:
        >>> cfg = train_config_from_easyrec(
        ...     {"optimizer_config": {"adam_optimizer": {"learning_rate": {"exponential_decay_learning_rate": {
        ...         "initial_learning_rate": 0.001, "decay_steps": 1000, "decay_factor": 0.5,
        ...         "min_learning_rate": 0.00001}}}}, "num_steps": 2500},
        ...     {"batch_size": 1024, "num_epochs": 1})
        >>> cfg.base_learning_rate, cfg.lr_schedule.decay_steps, cfg.max_steps, cfg.batch_size
        (0.001, 1000, 2500, 1024)
    """
    return parse_params(TrainConfig, train_section(train_config, data_config, where), where)
