"""Reading parquet/CSV sources, batching transformed data, and bad-row accounting."""

from recblocks.data.loader import InMemoryLoader, StreamingLoader, epoch_seed, id_columns, load_batch, needed_columns
from recblocks.data.readers import (
    DataSource,
    as_source,
    file_format,
    iter_tables,
    list_files,
    read_columns,
    read_table,
)
from recblocks.data.report import check_bad_rows, format_report, log_report
from recblocks.features.stats import FeatureCounts, TransformReport

__all__ = [
    "DataSource",
    "FeatureCounts",
    "InMemoryLoader",
    "StreamingLoader",
    "TransformReport",
    "as_source",
    "check_bad_rows",
    "epoch_seed",
    "file_format",
    "format_report",
    "id_columns",
    "iter_tables",
    "list_files",
    "load_batch",
    "log_report",
    "needed_columns",
    "read_columns",
    "read_table",
]
