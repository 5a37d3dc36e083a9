"""``recblocks serve RUN_DIR|EXPORT_DIR``: the application of :mod:`~recblocks.serve.app` on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recblocks.serve.app import Limits, create_app
from recblocks.serve.scorer import scorer_for

__all__ = ["make_server", "serve_run"]


def make_server(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
                log_level: str = "info") -> Any:
    """A ``uvicorn.Server`` for a run directory or an export folder (not started: ``server.run()``,
    or in a thread for tests); an export folder (``manifest.json``) is scored by its own graph.

    At most 256 connections are served at once (uvicorn answers 503 beyond); idle keep-alive
    connections close after 5 s."""
    import uvicorn

    scorer = scorer_for(run_dir)
    app = create_app(scorer, limits)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                            limit_concurrency=256, access_log=False)
    return uvicorn.Server(config)


def serve_run(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None) -> None:
    """Serve the run until interrupted."""
    make_server(run_dir, host, port, limits).run()
