"""recblocks: compose, train, evaluate and ship deep recommendation models from reusable blocks.

``recblocks.Model`` / ``recblocks.Ranking`` are the Python facade (:mod:`recblocks.runs`);
the layers below (core, features, data, layers, blocks, tasks, models, training) are
importable on their own.
"""

__version__ = "0.1.0"

__all__ = ["Model", "Ranking", "__version__"]


def __getattr__(name: str) -> object:
    """``recblocks.Model`` and ``recblocks.Ranking`` without importing the whole stack on ``import recblocks``."""
    if name in ("Model", "Ranking"):
        from recblocks import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'recblocks' has no attribute {name!r}")
