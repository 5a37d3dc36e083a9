"""recblocks: compose, train, evaluate and ship deep recommendation models from reusable blocks.

``recblocks.Model`` / ``recblocks.Ranking`` are the Python facade (:mod:`recblocks.runs`);
the layers below (core, features, data, layers, blocks, tasks, models, training) are
importable on their own.
"""

__version__ = "0.1.0"

__all__ = ["Model", "Ranking", "load", "__version__"]


def __getattr__(name: str) -> object:
    """``recblocks.Model``, ``recblocks.Ranking`` and ``recblocks.load`` (:func:`recblocks.runs.load_run`:
    the trained model of a run directory) without importing the whole stack on ``import recblocks``."""
    if name in ("Model", "Ranking", "load"):
        from recblocks import runs

        return runs.load_run if name == "load" else getattr(runs, name)
    raise AttributeError(f"module 'recblocks' has no attribute {name!r}")
