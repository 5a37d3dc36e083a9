"""Serving a trained model over HTTP: ``recblocks serve RUN_DIR``.

:mod:`~recblocks.serve.scorer` (the :class:`Scorer` interface and :class:`RunScorer`, the eager
model of a run directory; checks JSON rows and names the bad row and field),
:mod:`~recblocks.serve.batcher` (micro-batching of concurrent requests in a worker thread),
:mod:`~recblocks.serve.app` (the FastAPI application with its limits) and
:mod:`~recblocks.serve.server` (uvicorn). Sits above :mod:`recblocks.export` so exported models
can plug in as scorers.
"""

from recblocks.serve.scorer import RowError, RunScorer, Scorer

__all__ = ["RowError", "RunScorer", "Scorer"]
