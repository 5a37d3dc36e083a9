"""``recblocks train --resume RUN_DIR``: continue an interrupted run from its last checkpoint.

The run continues in its own folder with its own ``config.yaml``; a config given with
``--resume`` must be the same (the first difference is named), and the training data must
give the same fitted preprocessing as the run's ``preprocess.json``. The newest complete
checkpoint (:mod:`recblocks.runs.checkpoints`) restores the weights, the optimizer, the
trainer (step, epoch, position in the epoch, history, best, early stopping) and the random
states, so the finished run is bit-identical to an uninterrupted one (weights, metrics,
``epochs.jsonl`` apart from the wall-clock fields ``seconds`` and ``samples_per_s``).

A run killed before its first checkpoint (or trained without ``save_checkpoints_steps``)
restarts from step 0 in the same folder: with the same seed the result is again the run the
uninterrupted training would have produced. The manifest goes ``running``/``failed`` ->
``running`` -> ``complete`` and records the resume in ``resumes`` (with the checkpoint used,
or null for a restart from scratch).

Under data-parallel training rank 0 reopens the run and sends its config and checkpoint to
the other ranks; the checkpoint may come from another world size (see
:mod:`recblocks.training.trainer`: the epoch continues at the row it had reached).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from recblocks.core.params import join_path
from recblocks.runs.errors import ResumeError
from recblocks.runs.experiment import Experiment, RunResult
from recblocks.runs.run_dir import RunDir
from recblocks.runs.run_files import jsonable
from recblocks.training import distributed

__all__ = ["resume_run", "first_difference"]

log = logging.getLogger("recblocks")
_MISSING = "<absent>"


def _plain(raw: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(jsonable(raw), sort_keys=True, allow_unicode=True))


def first_difference(saved: Any, given: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """``(config path, saved value, given value)`` of the first place two configs differ, or None."""
    if isinstance(saved, dict) and isinstance(given, dict):
        for key in sorted(set(saved) | set(given), key=str):
            found = first_difference(saved.get(key, _MISSING), given.get(key, _MISSING), join_path(path, key))
            if found:
                return found
        return None
    if isinstance(saved, list) and isinstance(given, list) and len(saved) == len(given):
        for index, (a, b) in enumerate(zip(saved, given)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if saved == given else (path or "config", saved, given)


def resume_run(path: str | Path, raw: dict[str, Any] | None = None, command: str = "train",
               device: str | None = None) -> RunResult:
    """Continue the interrupted run at ``path`` (see module docstring); ``raw``: the config the
    user gave with ``--resume``, which must equal the run's; ``device``: train on this device
    instead of the run's ``train.device`` (checkpoints are device-free).

    Raises:
        ResumeError: not a run, a complete run, another config or other data.
        DataError: a damaged config, preprocessing or checkpoint file (named).
    """
    prepared: dict[str, Any] = {}

    def check(run: RunDir) -> None:  # before the manifest changes: a refused resume leaves the run as it was
        saved = run.read_config()
        if raw is not None:
            found = first_difference(_plain(saved), _plain(raw))
            if found is not None:
                where, old, new = found
                raise ResumeError(where, "--resume continues a run with its own config and this one differs "
                                  "(train a new run, or --init-from the old one)", f"{old!r} (the run's config.yaml)",
                                  repr(new))
        if device is not None:
            saved = {**saved, "train": {**(saved.get("train") or {}), "device": device}}
        experiment = Experiment.from_raw(saved)
        experiment.plan()
        prepared["experiment"], prepared["raw"] = experiment, saved
        prepared["checkpoint"] = run.latest_checkpoint()

    distributed.init_from_env()
    if not distributed.is_main():  # rank 0 reopens the run; the others take its config and checkpoint
        distributed.on_main(lambda: None, str(path))
        saved, found = distributed.broadcast_object(None)
        return Experiment.from_raw(saved).train(None, resume=found[1] if found is not None else None)
    run_dir = distributed.on_main(lambda: RunDir.resume(path, command=command, check=check), str(path))
    distributed.broadcast_object((prepared["raw"], prepared["checkpoint"]))
    with run_dir:  # complete, or failed on error
        found = prepared["checkpoint"]
        name, state = found if found is not None else (None, None)
        run_dir.record(checkpoint=name)
        if name is None:
            log.info("%s: no checkpoint; training again from step 0", run_dir.path)
        else:
            log.info("%s: resuming from checkpoint %s (step %d)", run_dir.path, name, state.global_step)
        return prepared["experiment"].train(run_dir, resume=state)
