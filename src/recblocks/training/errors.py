"""Errors raised by training: non-finite losses, weights and scores."""

from __future__ import annotations

from recblocks.core.errors import DataError

__all__ = ["NonFiniteLossError", "NonFiniteWeightsError", "NonFiniteScoresError"]


class NonFiniteLossError(DataError):
    """The training loss became NaN or infinite; ``step`` is the 1-based global step.

    ``cause`` (optional) says what made it so when that is known, e.g. a feature whose inputs
    are not finite.
    """

    def __init__(self, step: int, epoch: int, value: float, cause: str | None = None) -> None:
        self.step = step
        self.epoch = epoch
        hint = f" ({cause})" if cause else ""
        super().__init__(
            f"train step {step} (epoch {epoch + 1})",
            f"the training loss is not finite{hint}; check the inputs for NaN/inf, lower the learning rate "
            "or set train.grad_clip_norm",
            "a finite loss",
            value,
        )


class NonFiniteWeightsError(DataError):
    """Model weights hold NaN or inf: found when loading a weights file or before saving one.

    ``where`` names the file (or the training step); ``parameter`` is the name of the first bad
    tensor of the state dict (a parameter or a buffer such as a batch-norm running mean).
    """

    def __init__(self, where: str, parameter: str, bad_values: int, size: int, bad_tensors: int,
                 tensors: int) -> None:
        self.parameter = parameter
        super().__init__(
            where,
            f"the weights hold NaN or inf: tensor '{parameter}' has {bad_values} such values of {size} "
            f"({bad_tensors} of {tensors} floating-point tensors are affected)",
            "finite weights",
            "non-finite values",
        )


class NonFiniteScoresError(DataError):
    """A model produced NaN or inf scores for some rows (evaluation or prediction)."""

    def __init__(self, where: str, output: str, bad_rows: int, rows: int, first_row: int) -> None:
        self.bad_rows = bad_rows
        self.first_row = first_row
        super().__init__(
            where,
            f"model output '{output}' is NaN or inf for {bad_rows} of {rows} rows (first at data row "
            f"{first_row}); the weights or the inputs are broken",
            "finite scores",
            f"{bad_rows} non-finite rows",
        )
