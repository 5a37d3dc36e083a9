"""The ``vocabulary`` section of a dynamic-vocabulary feature (see :mod:`recblocks.features.dynamic_vocab`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from recblocks.core.limits import MAX_TABLE_ROWS
from recblocks.core.params import Params

__all__ = ["DynamicVocabularyConfig", "MISSING_RAW_ID"]

#: A raw id below 0 is a missing value (it maps to the unknown row).
MISSING_RAW_ID = -1


class DynamicVocabularyConfig(Params):
    """``vocabulary: {type: dynamic, max_rows: 100000, admit_min_count: 2, evict_after: 10000}``.

    Args:
        type: ``dynamic`` (the only kind; a fitted vocabulary is the default without this section).
        max_rows: rows of the embedding table, reserved rows 0 (padding) and 1 (unknown) included.
        admit_min_count: occurrences (in training batches) before an id gets its own row.
        evict_after: training steps an id may go unseen before its row is freed; None: never by age.
        when_full: ``evict_oldest`` (take over the least recently seen rows) or ``wait``.
        max_candidates: ids whose counts are kept while they wait for admission (None: ``max_rows``).
    """

    type: Literal["dynamic"] = "dynamic"
    max_rows: int = Field(ge=3, le=MAX_TABLE_ROWS, description=f"table rows, 3 to {MAX_TABLE_ROWS:,}")
    admit_min_count: int = Field(default=1, ge=1, le=2**31)
    evict_after: int | None = Field(default=None, ge=1, le=2**62)
    when_full: Literal["evict_oldest", "wait"] = "evict_oldest"
    max_candidates: int | None = Field(default=None, ge=1, le=MAX_TABLE_ROWS)

    @model_validator(mode="after")
    def _candidates_needed(self) -> "DynamicVocabularyConfig":
        if self.max_candidates is not None and self.admit_min_count == 1:
            raise ValueError("max_candidates bounds the ids waiting for admission; with admit_min_count 1 no id "
                             "waits: leave max_candidates out or raise admit_min_count")
        return self

    @property
    def candidate_slots(self) -> int:
        return self.max_candidates or self.max_rows
