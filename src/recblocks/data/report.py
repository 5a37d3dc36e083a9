"""Bad-row and data-quality accounting surfaced to the user.

The preprocessor counts unseen ids, missing values and rows dropped for a bad label in a
:class:`~recblocks.features.TransformReport`; these helpers turn it into log lines or a
:class:`DataError` when too much of the data is unusable.
"""

from __future__ import annotations

import logging

from recblocks.core.errors import DataError
from recblocks.features.stats import TransformReport

__all__ = ["check_bad_rows", "format_report", "log_report"]

_LOG = logging.getLogger("recblocks.data")


def check_bad_rows(report: TransformReport, max_bad_fraction: float | None = None, where: str = "data") -> None:
    """Raise DataError when there were no rows, every row was dropped, or more than
    ``max_bad_fraction`` of them; the message gives the count, the fraction and the reasons.

    Example:
        >>> check_bad_rows(TransformReport(rows=10, bad_rows=10), where="train.parquet")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        recblocks.core.errors.DataError: train.parquet: every row was dropped for a bad label...; expected ..., got 10 bad rows of 10
    """
    if report.rows == 0:
        raise DataError(where, "the data has no rows", "at least one data row", "0 rows (an empty or header-only file)")
    reasons = report.bad_reasons()
    detail = f" ({reasons})" if reasons else ""
    if report.kept_rows == 0:
        raise DataError(where, f"every row was dropped for a bad label or a wrong-length vector{detail}",
                        "at least one row with a valid label", f"{report.bad_rows} bad rows of {report.rows}")
    fraction = report.bad_rows / report.rows
    if max_bad_fraction is not None and fraction > max_bad_fraction:
        raise DataError(where, f"too many rows dropped for a bad label or a wrong-length vector{detail}",
                        f"at most {100 * max_bad_fraction:.2f}% bad rows (data.max_bad_fraction)",
                        f"{report.bad_rows} of {report.rows} ({100 * fraction:.2f}%)")


def format_report(report: TransformReport, title: str = "data") -> str:
    """Multi-line text: ``title`` then the report's summary lines, indented."""
    return "\n".join([f"{title}:", *(f"  {line}" for line in report.summary_lines())])


def log_report(report: TransformReport, title: str = "data", logger: logging.Logger | None = None,
               level: int = logging.INFO) -> list[str]:
    """Log the summary lines (warning level when rows were dropped) and return them."""
    lines = report.summary_lines()
    log = logger or _LOG
    log.log(logging.WARNING if report.bad_rows else level, format_report(report, title))
    return lines
