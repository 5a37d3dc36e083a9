"""Warm start: a new run begins from the weights of a finished one (``train.init_from``,
``recblocks train --init-from RUN_DIR``, EasyRec's ``fine_tune_checkpoint``).

Each tensor of the new model's state dict is

* **loaded** when the saved run has a tensor of that name with the same shape and dtype;
* **skipped** when only one side has it (a block added or removed): it keeps its fresh
  initialisation (or is ignored);
* **reshaped** when both have it with different shapes: it is *not* loaded and keeps its fresh
  initialisation, with a warning. This covers embedding tables whose vocabulary changed:
  recblocks fuses the tables of all features of one width into one tensor, so a grown
  vocabulary shifts the rows of every later feature and rows cannot be copied by position;
  copying them by id is not done (the report says which tables start fresh).

Only weights are carried over: the optimizer starts fresh, and so do the learning-rate
schedule and the step count. The source must be a complete, intact run (as for
``recblocks evaluate``): an unfinished or damaged one is refused.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from recblocks.runs.run_dir import RunDir

__all__ = ["warm_start", "describe_warm_start"]

log = logging.getLogger("recblocks")


def warm_start(model: nn.Module, source: str) -> dict[str, Any]:
    """Load the matching weights of the run at ``source`` into ``model``; returns the report
    ``{"run", "loaded": [names], "skipped": [{"name", "reason"}], "reshaped": [{"name",
    "saved", "model"}]}`` (see module docstring)."""
    with RunDir.open(source) as run:
        saved = run.load_state_dict()
        path = str(run.path)
    own = model.state_dict()
    loaded: list[str] = []
    reshaped: list[dict[str, Any]] = []
    update: dict[str, torch.Tensor] = {}
    for name, tensor in own.items():
        if name not in saved:
            continue
        other = saved[name]
        if tuple(other.shape) == tuple(tensor.shape) and other.dtype == tensor.dtype:
            update[name] = other
            loaded.append(name)
        else:
            reshaped.append({"name": name, "saved": [*other.shape], "model": [*tensor.shape]})
    skipped = ([{"name": n, "reason": "not in the saved run"} for n in own if n not in saved]
               + [{"name": n, "reason": "not in this model"} for n in saved if n not in own])
    model.load_state_dict({**own, **update})
    report = {"run": path, "loaded": loaded, "skipped": skipped, "reshaped": reshaped}
    log.info("%s", describe_warm_start(report))
    for entry in reshaped:
        log.warning("warm start: %s has shape %s in %s but %s here; it starts from its fresh initialisation",
                    entry["name"], entry["saved"], path, entry["model"])
    return report


def describe_warm_start(report: dict[str, Any]) -> str:
    """One line: ``warm start from RUN: 12 tensors loaded, 1 skipped, 1 reshaped (not loaded: ...)``."""
    text = (f"warm start from {report['run']}: {len(report['loaded'])} tensors loaded, {len(report['skipped'])} "
            f"skipped, {len(report['reshaped'])} with another shape (not loaded)")
    names = [e["name"] for e in report["reshaped"]] + [e["name"] for e in report["skipped"]]
    return text + (f": {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}" if names else "")
