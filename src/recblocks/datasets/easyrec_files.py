"""Tables written the way EasyRec's example data files are: header-less delimited text.

An EasyRec ``CSVInput`` file has no header line; its columns are the config's ``input_fields`` in
order. :func:`write_header_less` writes any table that way, and
:func:`prepare_movielens_example_files` writes MovieLens (ML-100K or ML-1M) in the layout of
EasyRec's ML-1M example (``examples/data/movielens_1m``: tab-separated ``label, user_id,
movie_id, rating, gender, age, job_id, zip_id, title, genres, year``; rating 4-5 -> 1, 1-2 -> 0,
rating 3 dropped; gender ``F``/``M`` -> 0/1; age -> its ML-1M bracket index 0..6; occupation ->
an index; the title without its ``(year)``; genres ``|``-joined), split at random into train and
test as EasyRec's script does (90/10 by default), so its ``*_on_movielens.config`` files read it
with their input paths changed and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.files import atomic_write, check_output_file, make_dirs

__all__ = ["ML1M_EXAMPLE_COLUMNS", "AGE_BRACKETS", "movielens_example_layout", "write_header_less",
           "prepare_movielens_example_files"]

#: Column order of EasyRec's ML-1M example files (the ``input_fields`` of its MovieLens configs).
ML1M_EXAMPLE_COLUMNS = ("label", "user_id", "movie_id", "rating", "gender", "age", "job_id", "zip_id", "title",
                        "genres", "year")
#: Lower ends of ML-1M's seven age brackets (under 18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+).
AGE_BRACKETS = (0, 18, 25, 35, 45, 50, 56)


def _as_int(column: pa.ChunkedArray) -> pa.Array:
    """Digits -> int64, anything else (``unknown``, empty) -> null."""
    text = pc.cast(column, pa.string())
    digits = pc.match_substring_regex(text, r"^\d+$")
    return pc.cast(pc.if_else(digits, text, pa.scalar(None, pa.string())), pa.int64())


def movielens_example_layout(table: pa.Table) -> pa.Table:
    """:func:`recblocks.datasets.movielens.load_movielens` output in EasyRec's ML-1M example layout.

    Example:
        >>> import pyarrow as pa
        >>> t = pa.table({"label": [1], "user_id": ["7"], "movie_id": ["3"], "rating": [5], "gender": ["F"],
        ...               "age": ["23"], "job_id": ["writer"], "zip_id": ["02139"], "title": ["Heat (1995)"],
        ...               "genres": ["Action|Crime"], "year": ["1995"], "timestamp": [0]})
        >>> movielens_example_layout(t).to_pylist()[0]["title"], movielens_example_layout(t).to_pylist()[0]["age"]
        ('Heat', 1)
    """
    missing = [c for c in ML1M_EXAMPLE_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError("table", "not a MovieLens table in recblocks' columns", list(ML1M_EXAMPLE_COLUMNS), missing)
    ages = _as_int(table["age"]).to_numpy(zero_copy_only=False)
    age_index = np.searchsorted(np.array(AGE_BRACKETS), np.nan_to_num(ages.astype(float)), side="right") - 1
    jobs = table["job_id"].to_pylist()
    job_index = {job: i for i, job in enumerate(sorted(set(jobs)))}
    title = pc.utf8_trim_whitespace(pc.replace_substring_regex(table["title"], r"\s*\(\d{4}\)\s*$", ""))
    columns = {
        "label": table["label"],
        "user_id": _as_int(table["user_id"]),
        "movie_id": _as_int(table["movie_id"]),
        "rating": table["rating"],
        "gender": pa.array([None if g is None else int(g == "M") for g in table["gender"].to_pylist()], pa.int64()),
        "age": pa.array(age_index, pa.int64()),
        "job_id": pa.array([job_index[j] for j in jobs], pa.int64()),
        "zip_id": table["zip_id"],
        "title": title,
        "genres": table["genres"],
        "year": _as_int(table["year"]),
    }
    return pa.table(columns)


def write_header_less(table: pa.Table, path: str | Path, columns: Sequence[str] | None = None,
                      separator: str = ",") -> Path:
    """Write ``table``'s ``columns`` (default all) as header-less text, nulls as empty fields.

    A value holding the separator or a line break is a DataError naming the column: EasyRec's
    reader does not unquote.
    """
    columns = list(columns or table.column_names)
    unknown = [c for c in columns if c not in table.column_names]
    if unknown:
        raise ConfigError("columns", "not columns of the table", f"some of {table.column_names[:12]}", unknown)
    if len(separator) != 1:
        raise ConfigError("separator", "one character separates the fields", "e.g. ',' or '\\t'", repr(separator))
    part = table.select(columns)
    for name in columns:
        if pa.types.is_string(part.schema.field(name).type) or pa.types.is_large_string(part.schema.field(name).type):
            clash = pc.any(pc.match_substring_regex(part[name], "[" + re.escape(separator) + "\n\r]"))
            if clash.as_py():
                raise DataError(name, "a value holds the field separator or a line break", "plain values",
                                repr(separator))
    target = Path(path)
    make_dirs(target.parent)
    options = pacsv.WriteOptions(include_header=False, delimiter=separator, quoting_style="none")
    atomic_write(target, lambda tmp: pacsv.write_csv(part, tmp, options))
    return target


def prepare_movielens_example_files(source_dir: str | Path, output_dir: str | Path, test_fraction: float = 0.1,
                                    seed: int = 0, num_rows: int | None = None) -> dict[str, Path]:
    """Write ``movies_train_data`` and ``movies_test_data`` in EasyRec's ML-1M example layout.

    Args:
        source_dir: a GroupLens ML-100K or ML-1M directory.
        output_dir: the folder for the two files.
        test_fraction: share of the shuffled rows in the test file (EasyRec: about 0.1).
        seed: seed of the shuffle (EasyRec's script shuffles without one).
        num_rows: keep only this many shuffled rows (small samples for tests).

    Returns:
        ``{"train": path, "test": path}``.

    Raises:
        OutputPathError: either file exists already (a header-less file cannot say recblocks
            wrote it, so it is never replaced) or the output is not a folder path.
    """
    from recblocks.datasets.movielens import load_movielens

    if not 0.0 < test_fraction < 1.0:
        raise ConfigError("test_fraction", "a share of the rows", "a number between 0 and 1", test_fraction)
    out = Path(output_dir)
    targets = {name: check_output_file(out / f"movies_{name}_data", is_own=lambda _: False, overwrite=False,
                                       what="the header-less dataset")
               for name in ("train", "test")}  # a header-less file carries no mark: never replaced
    table = movielens_example_layout(load_movielens(source_dir, "easyrec"))
    order = np.random.default_rng(seed).permutation(table.num_rows)[:num_rows]
    table = table.take(pa.array(order))
    cut = int(round(table.num_rows * (1.0 - test_fraction)))
    return {"train": write_header_less(table.slice(0, cut), targets["train"], separator="\t"),
            "test": write_header_less(table.slice(cut), targets["test"], separator="\t")}
