"""recblocks: compose, train, evaluate and ship deep recommendation models from reusable blocks."""

__version__ = "0.1.0"

__all__ = ["__version__"]
