"""recblocks: compose, train, evaluate and ship deep recommendation models from reusable blocks."""

__version__ = "0.1.0"

__all__ = ["__version__"]

# Importing the training layer registers the runner behind Model.fit/evaluate/predict (the models
# layer cannot import it). Last, so every lower layer is already importable.
import recblocks.training  # noqa: E402,F401
