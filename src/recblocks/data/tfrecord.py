"""Read TFRecord files of ``tf.Example`` records (EasyRec's TFRecordInput / BatchTFRecordInput).

A TFRecord file is a sequence of records, each framed as: the payload's length (uint64,
little-endian), a masked CRC32C of those 8 bytes (uint32), the payload, a masked CRC32C of the
payload (uint32). The CRCs are **not verified**: no CRC32C package is installed with recblocks;
the framing is (a length that runs past the end of the file is a DataError naming the file, the
record and its byte offset).

Two record kinds (``record`` option of the source):

* ``example`` — one sample per record, a ``tf.Example``: feature name -> a list of bytes,
  floats or int64s. Each feature holds one value per sample, as EasyRec reads it (a fixed-length
  feature of shape 1); an absent feature is null (its default is applied downstream, as for CSV).
* ``sequence_example`` — several samples per record, a ``tf.SequenceExample`` whose
  ``feature_lists`` hold one Feature per sample (EasyRec's BatchTFRecordInput).

The messages are recblocks' own definitions of TensorFlow's public wire format
(``recblocks/easyrec/protos/example.proto``). Bytes become UTF-8 strings, floats float32,
int64s int64: the table the CSV and parquet readers give, one column per feature. Parsing is
one protobuf call per record (the payload is C-parsed); the columns are built with pyarrow.

Example:
    >>> from recblocks.easyrec.schema import message_class
    >>> example = message_class("Example")()
    >>> example.features.feature["clk"].int64_list.value.append(1)
    >>> example.features.feature["user"].bytes_list.value.append(b"u1")
    >>> records_table([example.SerializeToString()], ["clk", "user"], "example", "x.tfrecord", 0).to_pydict()
    {'clk': [1], 'user': ['u1']}
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError

from recblocks.core.errors import DataError
from recblocks.easyrec.schema import message_class

__all__ = ["iter_records", "records_table", "record_keys", "record_tables", "tfrecord_keys", "RECORD_KINDS"]

RECORD_KINDS = ("example", "sequence_example")
_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_FOOTER = 4  # uint32 masked CRC of the payload
_TYPES = {"bytes_list": pa.binary(), "float_list": pa.float32(), "int64_list": pa.int64()}


def iter_records(path: Path, chunk_bytes: int = 16 << 20) -> Iterator[bytes]:
    """The payloads of the file's records, in order (read ``chunk_bytes`` at a time)."""
    number, offset = 0, 0
    with open(path, "rb") as handle:
        pending = b""
        while True:
            block = handle.read(chunk_bytes)
            pending += block
            start = 0
            while len(pending) - start >= _HEADER:
                (length,) = struct.unpack_from("<Q", pending, start)
                end = start + _HEADER + length + _FOOTER
                if end > len(pending):
                    break
                yield pending[start + _HEADER:start + _HEADER + length]
                number += 1
                offset += end - start
                start = end
            pending = pending[start:]
            if not block:
                break
    if pending:
        raise DataError(f"{path}, record {number + 1}", f"the file ends inside a record (at byte {offset})",
                        "complete TFRecord records (length, CRC, payload, CRC)", f"{len(pending)} trailing bytes")


def _message_name(kind: str) -> str:
    return "Example" if kind == "example" else "SequenceExample"


def _parse(payload: bytes, kind: str, where: str) -> Any:
    name = _message_name(kind)
    try:
        return message_class(name).FromString(payload)
    except DecodeError as exc:
        raise DataError(where, f"the record is not a tf.{name} ({exc})", f"a serialized tf.{name}",
                        f"{len(payload)} unreadable bytes") from None


def record_keys(payload: bytes, kind: str, where: str) -> list[str]:
    """The feature names of one record, sorted."""
    message = _parse(payload, kind, where)
    keys = message.features.feature if kind == "example" else message.feature_lists.feature_list
    return sorted(keys)


def _cell(feature: Any, name: str, where: str, cell_types: dict[str, str]) -> Any:
    kind = feature.WhichOneof("kind")
    if kind is None:
        return None
    seen = cell_types.setdefault(name, kind)
    if seen != kind:
        raise DataError(f"{where}, feature '{name}'", "the feature changes its value type between records",
                        f"{seen} in every record", kind)
    values = getattr(feature, kind).value
    if len(values) > 1:
        raise DataError(f"{where}, feature '{name}'", "a feature holds one value per sample (EasyRec reads a "
                        "fixed-length feature of shape 1)", "at most one value", f"{len(values)} values")
    return values[0] if values else None


def records_table(payloads: Sequence[bytes], columns: Sequence[str], kind: str, path: str,
                  first_record: int) -> pa.Table:
    """The ``columns`` of the records' samples as a table (``first_record``: records before them in the file)."""
    cells: dict[str, list[Any]] = {name: [] for name in columns}
    cell_types: dict[str, str] = {}
    for index, payload in enumerate(payloads):
        where = f"{path}, record {first_record + index + 1}"
        message = _parse(payload, kind, where)
        if kind == "example":
            features = message.features.feature
            for name in columns:
                cells[name].append(_cell(features[name], name, where, cell_types) if name in features else None)
            continue
        lists = message.feature_lists.feature_list
        sizes = {len(lists[name].feature) for name in lists}
        if len(sizes) > 1:
            raise DataError(where, "the feature lists of a batched record hold different numbers of samples",
                            "one Feature per sample in every list", sorted(sizes))
        rows = sizes.pop() if sizes else 0
        for name in columns:
            if name in lists:
                cells[name].extend(_cell(f, name, where, cell_types) for f in lists[name].feature)
            else:
                cells[name].extend([None] * rows)
    arrays = {}
    for name in columns:
        # a feature absent from every record read so far: a null column, which any type absorbs when chunks meet
        array = pa.array(cells[name], type=_TYPES[cell_types[name]] if name in cell_types else pa.null())
        if array.type == pa.binary():
            try:
                array = array.cast(pa.string())
            except pa.ArrowInvalid:
                raise DataError(f"{path}, feature '{name}'", "bytes that are not UTF-8 text", "UTF-8 strings",
                                "invalid UTF-8") from None
        arrays[name] = array
    return pa.table(arrays)


def tfrecord_keys(path: Path, kind: str) -> list[str]:
    """The feature names of the file's first record, sorted."""
    first = next(iter_records(path), None)
    if first is None:
        raise DataError(str(path), "the file holds no record", f"at least one tf.{_message_name(kind)} record",
                        "0 records")
    return record_keys(first, kind, f"{path}, record 1")


def record_tables(path: Path, columns: Sequence[str], kind: str, records_per_chunk: int) -> Iterator[pa.Table]:
    """The file's samples as tables of the samples of at most ``records_per_chunk`` records each."""
    pending: list[bytes] = []
    done = 0
    for payload in iter_records(path):
        pending.append(payload)
        if len(pending) >= records_per_chunk:
            yield records_table(pending, columns, kind, str(path), done)
            done += len(pending)
            pending = []
    if pending or not done:
        yield records_table(pending, columns, kind, str(path), done)
