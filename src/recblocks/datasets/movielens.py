"""MovieLens ML-100K and ML-1M (GroupLens layouts) as one CTR table.

Columns of the output: ``label, user_id, movie_id, rating, gender, age, job_id, zip_id,
title, genres, year, timestamp``; ids, ``age``, ``year`` and ``genres`` (``|``-joined) are
strings, ``label``, ``rating`` and ``timestamp`` int64. ``year`` comes from the title
``"... (1995)"`` or else the release date, ``"unknown"`` when absent.

Label protocols: ``"easyrec"`` (rating 4-5 -> 1, 1-2 -> 0, rating 3 dropped) or
``{"threshold": N}`` (label = rating >= N, every row kept).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.files import OutputPathError, atomic_write, check_output_file, make_dirs
from recblocks.datasets.histories import add_histories
from recblocks.datasets.splits import random_split, temporal_split

__all__ = ["GENRES_100K", "OUTPUT_COLUMNS", "DATASET_KEY", "detect_layout", "load_movielens", "apply_label",
           "prepare_movielens", "is_prepared_file"]

#: Parquet schema metadata key marking a file written by :func:`prepare_movielens`.
DATASET_KEY = b"recblocks.dataset"

#: Genre flag order of ML-100K ``u.item``.
GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western")

OUTPUT_COLUMNS = ("label", "user_id", "movie_id", "rating", "gender", "age", "job_id", "zip_id", "title", "genres",
                  "year", "timestamp")

_LAYOUTS = {"ml-100k": ("u.data", "u.user", "u.item"), "ml-1m": ("ratings.dat", "users.dat", "movies.dat")}
_SEP = "\x1f"  # stands in for the two-character "::" of ML-1M files


def detect_layout(source_dir: str | Path) -> str:
    """``"ml-100k"`` or ``"ml-1m"`` from the files present; DataError naming the directory otherwise."""
    directory = Path(source_dir)
    for layout, files in _LAYOUTS.items():
        if all((directory / f).is_file() for f in files):
            return layout
    if directory.is_dir():
        found: object = sorted(p.name for p in directory.iterdir())[:12]
    else:
        found = "a file, not a directory" if directory.exists() else "no such directory"
    raise DataError(str(directory), "not a MovieLens directory",
                    "u.data, u.user, u.item (ML-100K) or ratings.dat, users.dat, movies.dat (ML-1M)", found)


def _read(data: Path | io.BytesIO, names: Sequence[str], delimiter: str, types: Mapping[str, pa.DataType],
          encoding: str = "utf8", where: str = "") -> pa.Table:
    try:
        return pacsv.read_csv(
            data,
            read_options=pacsv.ReadOptions(column_names=list(names), encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types=dict(types), strings_can_be_null=True,
                                                 null_values=[""]),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(where, f"cannot parse the file ({str(exc).splitlines()[0]})",
                        f"{len(names)} fields separated by {delimiter!r}") from None


def _read_dat(path: Path, names: Sequence[str], types: Mapping[str, pa.DataType]) -> pa.Table:
    text = path.read_bytes().decode("latin-1").replace("::", _SEP)
    return _read(io.BytesIO(text.encode("utf-8")), names, _SEP, types, where=str(path))


def _strings(names: Sequence[str]) -> dict[str, pa.DataType]:
    return {n: pa.string() for n in names}


def _genres_from_flags(flags: np.ndarray) -> pa.Array:
    rows, cols = np.nonzero(flags)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=flags.shape[0]))]).astype(np.int32)
    names = pa.array(np.asarray(GENRES_100K, dtype=object)[cols], type=pa.string())
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), names), "|")


def _read_100k(directory: Path) -> tuple[pa.Table, pa.Table, pa.Table]:
    ratings = _read(directory / "u.data", ["user_id", "movie_id", "rating", "timestamp"], "\t",
                    {"user_id": pa.string(), "movie_id": pa.string(), "rating": pa.int64(), "timestamp": pa.int64()},
                    where=str(directory / "u.data"))
    users = _read(directory / "u.user", ["user_id", "age", "gender", "job_id", "zip_id"], "|",
                  _strings(["user_id", "age", "gender", "job_id", "zip_id"]), where=str(directory / "u.user"))
    item_names = ["movie_id", "title", "release_date", "video_release_date", "url", *[f"g{i}" for i in range(19)]]
    items = _read(directory / "u.item", item_names, "|",
                  _strings(item_names[:5]) | {f"g{i}": pa.int8() for i in range(19)}, encoding="latin-1",
                  where=str(directory / "u.item"))
    flags = np.stack([pc.fill_null(items[f"g{i}"], 0).to_numpy() for i in range(19)], axis=1)
    movies = pa.table({"movie_id": items["movie_id"], "title": items["title"],
                       "genres": _genres_from_flags(flags), "release_date": items["release_date"]})
    return ratings, users, movies


def _read_1m(directory: Path) -> tuple[pa.Table, pa.Table, pa.Table]:
    ratings = _read_dat(directory / "ratings.dat", ["user_id", "movie_id", "rating", "timestamp"],
                        {"user_id": pa.string(), "movie_id": pa.string(), "rating": pa.int64(),
                         "timestamp": pa.int64()})
    users = _read_dat(directory / "users.dat", ["user_id", "gender", "age", "job_id", "zip_id"],
                      _strings(["user_id", "gender", "age", "job_id", "zip_id"]))
    movies = _read_dat(directory / "movies.dat", ["movie_id", "title", "genres"],
                       _strings(["movie_id", "title", "genres"]))
    movies = movies.append_column("release_date", pa.nulls(movies.num_rows, pa.string()))
    return ratings, users, movies


def _year(title: pa.ChunkedArray, release_date: pa.ChunkedArray) -> pa.Array:
    title, release_date = title.combine_chunks(), release_date.combine_chunks()
    from_title = pc.struct_field(pc.extract_regex(pc.fill_null(title, ""), r"\((?P<year>\d{4})\)\s*$"), "year")
    from_date = pc.struct_field(pc.extract_regex(pc.fill_null(release_date, ""), r"(?P<year>\d{4})\s*$"), "year")
    return pc.fill_null(pc.coalesce(from_title, from_date), "unknown")


def apply_label(table: pa.Table, label: str | Mapping[str, Any] = "easyrec") -> pa.Table:
    """Add the ``label`` column from ``rating`` by the protocol (dropping rating-3 rows for ``easyrec``)."""
    rating = table["rating"]
    if label == "easyrec":
        table = table.filter(pc.not_equal(rating, 3))
        positive = pc.greater_equal(table["rating"], 4)
    elif isinstance(label, Mapping) and set(label) == {"threshold"} and isinstance(label["threshold"], (int, float)) \
            and not isinstance(label["threshold"], bool) and np.isfinite(label["threshold"]):
        positive = pc.greater_equal(rating, label["threshold"])
    else:
        raise ConfigError("label", "unknown label protocol", "'easyrec' or {'threshold': N}", repr(label))
    labels = pc.cast(positive, pa.int64())
    if "label" in table.column_names:
        table = table.drop_columns(["label"])
    return table.add_column(0, "label", labels)


def load_movielens(source_dir: str | Path, label: str | Mapping[str, Any] = "easyrec",
                   like: bool = False) -> pa.Table:
    """Ratings joined with users and movies, labelled by ``label`` (see the module docstring).

    ``like=True`` adds a second label after ``label``: ``like`` = 1 for a rating of 5, else 0
    (int64), on the rows the protocol keeps, for two-task (click-style + like) models.
    """
    directory = Path(source_dir)
    layout = detect_layout(directory)
    ratings, users, movies = _read_100k(directory) if layout == "ml-100k" else _read_1m(directory)
    user_rows = pc.index_in(ratings["user_id"], value_set=users["user_id"].combine_chunks())
    movie_rows = pc.index_in(ratings["movie_id"], value_set=movies["movie_id"].combine_chunks())
    users = users.take(user_rows)
    movies = movies.take(movie_rows)
    table = pa.table({
        "user_id": ratings["user_id"],
        "movie_id": ratings["movie_id"],
        "rating": ratings["rating"],
        "gender": users["gender"],
        "age": users["age"],
        "job_id": users["job_id"],
        "zip_id": users["zip_id"],
        "title": movies["title"],
        "genres": movies["genres"],
        "year": _year(movies["title"], movies["release_date"]),
        "timestamp": ratings["timestamp"],
    })
    table, columns = apply_label(table, label), list(OUTPUT_COLUMNS)
    if like:
        table = table.append_column("like", pc.cast(pc.equal(table["rating"], 5), pa.int64()))
        columns.insert(1, "like")
    return table.select(columns)


def is_prepared_file(path: Path) -> bool:
    """Whether ``path`` is a Parquet file :func:`prepare_movielens` wrote (see :data:`DATASET_KEY`)."""
    try:
        return DATASET_KEY in (pq.read_schema(path).metadata or {})
    except (pa.ArrowException, OSError, ValueError):
        return False


#: Suffixes of data files: an output folder (with a split) must not look like one.
_DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".json", ".jsonl", ".txt")


def _check_output_name(output: Path, split: str | None) -> None:
    """The output's name fits what is written: a ``.parquet`` file, or (with a split) a folder."""
    suffix = output.suffix.lower()
    if split is None and suffix != ".parquet":
        raise OutputPathError(str(output), "datasets prepare writes one Parquet file without --split",
                              "a path ending in .parquet (or a folder with --split)", repr(output.suffix or output.name))
    if split is not None and suffix in _DATA_SUFFIXES:
        raise OutputPathError(str(output), f"with a split the output is a folder of train/valid/test.parquet, not a "
                              f"{suffix} file", "a folder path (e.g. data/movielens)", repr(output.name))


def prepare_movielens(
    source_dir: str | Path,
    output_path: str | Path,
    label: str | Mapping[str, Any] | None = None,
    split: str | None = None,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    overwrite: bool = False,
    format: str = "easyrec",
    history: int | None = None,
    like: bool = False,
    history_ratings: bool = False,
) -> dict[str, Path]:
    """Write the labelled table as parquet: one file (``split=None``) or ``train/valid/test.parquet``.

    Every output is checked before the source is read: an existing file is replaced only when
    this function wrote it (its Parquet metadata carries :data:`DATASET_KEY`) and ``overwrite``
    is set; anything else is an OutputPathError. Files are written through a temporary file
    renamed into place; other files in the output folder are never touched.

    Args:
        source_dir: a GroupLens ML-100K or ML-1M directory.
        output_path: the parquet file, or (with a split) the output directory.
        label: label protocol; ``None`` for the format's own (``"easyrec"``, or ``{"threshold": 4}``
            for ``format="ctr"``, which takes only thresholds).
        split: ``None``, ``"random"`` (seeded) or ``"temporal"`` (by ``timestamp``); with
            ``format="ctr"`` also ``"leave_last_out"`` and ``"unseen_users"`` (the regimes of
            :mod:`recblocks.datasets.movielens_ctr`, whose ``random`` is the ``ml-100k-ctr``
            construction).
        seed: seed of the random and unseen-users splits.
        fractions: train/valid/test fractions (three values summing to 1; unused by leave-last-out).
        overwrite: replace files an earlier call wrote.
        format: ``"easyrec"`` (:data:`OUTPUT_COLUMNS`) or ``"ctr"`` (the columns of ``ml-100k-ctr``,
            :data:`~recblocks.datasets.movielens_ctr.CTR_COLUMNS`).
        history: add each row's previous ``history`` movies and genres
            (:func:`~recblocks.datasets.histories.add_histories`), computed over every rating
            of the user, rating-3 rows included, before the label protocol and the split.
        like: add the second label ``like`` (rating 5) right after ``label``, in either format (see
            :func:`load_movielens`).
        history_ratings: with ``history``, also add ``hist_rating`` (``list<int64>``): the rating
            of each history movie, aligned with ``hist_movie_id``, and ``hist_rating_rel``
            (``list<string>``): each of those ratings against the mean of the row's history
            (``below`` / ``typical`` / ``above``, margin 0.5 star; see
            :func:`~recblocks.datasets.histories.add_histories`). Easyrec format only; off by
            default, so the columns of ``history`` alone are unchanged.

    Returns:
        Part name (``all`` or ``train``/``valid``/``test``) -> written path.
    """
    from recblocks.datasets import movielens_ctr

    if format not in ("easyrec", "ctr"):
        raise ConfigError("format", "unknown dataset format", "'easyrec' or 'ctr'", repr(format),
                          choices=["easyrec", "ctr"])
    splits = movielens_ctr.REGIMES if format == "ctr" else ("random", "temporal")
    if split is not None and split not in splits:
        raise ConfigError("split", f"unknown split for format {format!r}", f"None or one of {', '.join(splits)}",
                          repr(split), choices=list(splits))
    if label is None:
        label = "easyrec" if format == "easyrec" else {"threshold": 4}
    elif format == "ctr" and label == "easyrec":
        raise ConfigError("label", "the ctr format keeps every rating", "{'threshold': N}", repr(label))
    if split is not None and len(fractions) != 3:
        raise ConfigError("fractions", "three fractions are needed for train/valid/test", 3, len(fractions))
    output = Path(output_path)
    _check_output_name(output, split)
    names = ["all"] if split is None else ["train", "valid", "test"]
    targets = {name: check_output_file(output if split is None else output / f"{name}.parquet",
                                       is_own=is_prepared_file, overwrite=overwrite, what="the dataset")
               for name in names}
    if history_ratings and (not history or format != "easyrec"):
        raise ConfigError("history_ratings", "the history ratings come with a history in the easyrec format",
                          "history > 0 and format='easyrec'", f"history={history!r}, format={format!r}")
    if history and format == "easyrec":  # histories over every rating, rating-3 rows included
        values = ("rating",) if history_ratings else ()
        table = apply_label(add_histories(load_movielens(source_dir, {"threshold": 1}, like=like), history,
                                          value_columns=values, relative_columns=values), label)
    else:
        loader = movielens_ctr.load_movielens_ctr if format == "ctr" else load_movielens
        table = loader(source_dir, label, like=like)  # type: ignore[operator]
        if history:  # the ctr format keeps every rating
            table = add_histories(table, history, category_separator="^")
    if split is None:
        parts = [table]
    elif format == "ctr":
        parts = list(movielens_ctr.split_regime(table, split, seed, fractions))
    elif split == "random":
        parts = random_split(table, fractions, seed)
    else:
        parts = temporal_split(table, fractions, "timestamp")
    mark = {DATASET_KEY: json.dumps({"source": "movielens", "format": format, "label": label, "split": split,
                                      "seed": seed, **({"history": history} if history else {}),
                                      **({"history_ratings": True} if history_ratings else {}),
                                      **({"like": True} if like else {})}).encode()}
    written = {}
    for (name, path), part in zip(targets.items(), parts):
        make_dirs(path.parent)
        part = part.replace_schema_metadata({**(part.schema.metadata or {}), **mark})
        atomic_write(path, lambda tmp, part=part: pq.write_table(part, tmp))
        written[name] = path
    return written
