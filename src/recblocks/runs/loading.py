"""``recblocks.load(run_dir)``: the trained model of a run directory, ready to score.

The run is opened as ``recblocks predict`` opens it (:func:`~recblocks.runs.scoring.open_run`:
an unfinished, failed or changed run is refused, the network is built from the run's
``config.yaml`` and ``preprocess.json`` and its weights loaded), and wrapped in a
:class:`~recblocks.runs.model.Model` whose ``predict`` / ``evaluate`` go through the same
scoring functions as ``recblocks predict`` / ``evaluate``, so the same rows give the same scores.
"""

from __future__ import annotations

from pathlib import Path

from recblocks.core.errors import DataError, RecBlocksError
from recblocks.runs.model import Model
from recblocks.runs.scoring import open_run

__all__ = ["load_run"]


def load_run(run_dir: str | Path, allow_unfinished: bool = False) -> Model:
    """The trained :class:`~recblocks.runs.model.Model` of ``run_dir``.

    Args:
        run_dir: a run directory written by ``recblocks train`` or ``Model.fit(output=...)``.
        allow_unfinished: use a run that did not finish (or whose files changed) anyway, with a
            log warning, as ``--allow-unfinished`` does.

    Returns:
        A model with :attr:`~Model.module` (the network, in eval mode), :attr:`~Model.preprocessor`
        (the fitted preprocessing), :attr:`~Model.fitted_run_config` (the run's config) and
        :attr:`~Model.run_dir`; ``predict(data)`` gives one score array per task.

    Raises:
        UnfinishedRunError / RunLockedError / DataError: as ``recblocks predict`` does for the run.

    Example:
        >>> import recblocks  # doctest: +SKIP
        >>> model = recblocks.load("runs/deepfm")  # doctest: +SKIP
        >>> model.predict("test.parquet")["ctr"][:3]  # doctest: +SKIP
    """
    run, config, _, preprocessor, module = open_run(run_dir, allow_unfinished)
    raw = run.read_config()
    try:
        model = Model.from_config(raw)
    except RecBlocksError as exc:
        raise DataError(str(run.config_path), f"the run's model cannot be rebuilt in Python ({exc})",
                        "the config training wrote", "a model section Model.from_config refuses") from None
    model.module, model.preprocessor = module, preprocessor
    model.fitted_train_config, model.fitted_data_config, model.fitted_run_config = config.train, config.data, config
    model.run_dir = run.path
    return model
