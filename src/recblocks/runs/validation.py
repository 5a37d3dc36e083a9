"""``recblocks validate``: every check ``recblocks train`` makes before its first step.

:func:`plan_rows` runs the same objects as :func:`~recblocks.runs.experiment.train_run`, in the
same order, and stops where training would begin: the config and the plan
(:meth:`Experiment.plan`: names, shapes, memory, early-stopping metric, data presence and
columns), the run-directory output rules when an output is given (:func:`check_run_output`,
deleting nothing), the preprocessing fitted on the training data, the real model, the
training loader, the validation and test data and the trainer (optimizer, monitor, the first
validation batch). So a config ``validate`` accepts trains, and one ``train`` refuses before
training is refused by ``validate`` with the same error (``tests/malformed`` runs both on
every case). With ``fit_data=False`` (``--no-data``) only the config is checked: no data is
needed or read, and embedding tables get placeholder sizes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from recblocks.core.files import path_kind, resolve_path
from recblocks.data.loader import InMemoryLoader
from recblocks.runs.config_paths import absolute_data_paths
from recblocks.runs.errors import RunDirExistsError
from recblocks.runs.experiment import Experiment, build_model
from recblocks.runs.run_lock import DirectoryLock
from recblocks.runs.run_state import clear_for_run, lock_error
from recblocks.training.trainer import Trainer

__all__ = ["plan_rows", "check_run_output"]


def check_run_output(output: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Refuse an ``output`` that ``train --output`` would refuse (a file, a folder holding
    something other than a recblocks run, a run without ``overwrite``, a locked run); creates,
    locks and deletes nothing."""
    given, path = str(output), resolve_path(output)
    where = given if Path(given) == path else f"{given} (= {path})"
    kind = path_kind(path)
    if kind == "file":
        raise RunDirExistsError(where, "the run directory path is a file", "a folder or nothing there",
                                f"the file {path}")
    if kind == "missing":
        return
    lock = DirectoryLock(path)
    if not lock.acquire(exclusive=True):
        raise lock_error(path / "run.json", where, writing=True)
    try:
        clear_for_run(path, where, overwrite, dry_run=True)
    finally:
        lock.release()


def plan_rows(raw: dict[str, Any], fit_data: bool = True, output: str | os.PathLike[str] | None = None,
              overwrite: bool = False) -> tuple[Any, list[dict[str, Any]], str]:
    """Check a config as ``train`` does before training; return the model, its plan rows and a
    note on where the embedding table sizes come from.

    Args:
        raw: the config mapping (relative data paths are relative to the current directory).
        fit_data: read the data as training would (fit the preprocessing, load every split);
            False: check the config alone, with placeholder table sizes.
        output: also check the run directory ``train --output`` would write.
        overwrite: as ``train --overwrite`` (for ``output``).
    """
    experiment = Experiment.from_raw(absolute_data_paths(raw))
    config, schema = experiment.config, experiment.schema
    if not fit_data:
        experiment.plan(read_data=False)
        if output is not None:
            check_run_output(output, overwrite)
        model = build_model(config, schema)
        return model, model.summary_rows(), "embedding rows are placeholders (vocabularies not fitted)"
    experiment.plan()
    if output is not None:
        check_run_output(output, overwrite)
    # From here on the order of Experiment.train, up to the trainer's first step.
    preprocessor = experiment.fit_preprocessor()
    model = build_model(config, schema, preprocessor)
    experiment._train_loader(preprocessor)  # the training split read and preprocessed as train does
    valid, _ = experiment.batch("valid", preprocessor), experiment.batch("test", preprocessor)
    eval_size = config.train.eval_batch_size or max(config.train.batch_size, 4096)
    trainer = Trainer(model, config.train)
    if valid is not None:
        trainer._peek(InMemoryLoader(valid, eval_size, shuffle=False))  # the check fit() makes first
    if config.data.synthetic is not None:
        note = "embedding rows fitted on the synthetic data"
    elif "train" in experiment.tables:
        note = "embedding rows fitted on the train table"
    else:
        note = f"embedding rows fitted on {config.data.train.path}"  # type: ignore[union-attr]  (plan checked it)
    model.eval()
    return model, model.summary_rows(), note
