"""EasyRec's input paths and ``data_config`` as recblocks' ``data:`` section.

* ``train_input_path`` / ``eval_input_path`` (or ``parquet_train_input`` / ``parquet_eval_input``)
  -> ``data.train`` / ``data.valid``, each a source mapping (:class:`recblocks.data.readers.DataSource`).
  Relative paths are left relative: a loaded ``.config`` file resolves them against its own
  folder, as YAML configs do. Several comma-joined paths (``a.csv,b.csv``) become a list of
  paths, read in order as one source. ``odps://``, ``oss://``, ``hdfs://``,
  ``kafka``/``datahub``/``hive``/binary inputs have no reader here: ConfigError.
* ``input_type``: ``CSVInput`` (V2, Ex) -> ``format: csv`` with ``delimiter`` = ``separator``
  (EasyRec default ``,``), ``header`` = ``with_header`` (EasyRec default false) and
  ``column_names`` = the ``input_fields`` names in order (EasyRec's CSV has no header line);
  ``ParquetInput`` (V2, V3) -> ``format: parquet``; ``RTPInput`` -> ``format: rtp`` with
  ``delimiter`` = ``rtp_separator`` (EasyRec default ``;``) and ``rtp`` =
  (:class:`recblocks.data.rtp.RtpLayout`): ``selected_cols`` but the last -> ``label_columns``
  named by ``label_fields`` in order, the last -> ``feature_column``, the ``input_fields`` that
  are not labels -> ``feature_names`` (in order), ``separator`` -> ``feature_separator``.
  ``TFRecordInput`` -> ``format: tfrecord`` (``record: example``), ``BatchTFRecordInput`` ->
  ``format: tfrecord`` with ``record: sequence_example``; ``column_names`` = the ``input_fields``
  names (the features read from each tf.Example; :mod:`recblocks.data.tfrecord`).
  ``RTPInputV2`` (``key\\x03value`` pairs separated by ``\\x02``) -> ``format: rtp_kv`` with
  ``column_names`` = the ``input_fields`` names (labels included). ODPS, Kafka, DataHub, Hive,
  Criteo binary and dummy inputs are a ConfigError naming ``data_config.input_type``.
* ``ignore_error: true`` (skip unparseable rows) -> ``max_bad_fraction: 1.0``.
* ``label_fields``, ``sample_weight``, ``batch_size``, ``num_epochs``, ``eval_batch_size`` are read
  by the model and train translations; ``input_fields[].default_val`` of raw features becomes
  their ``fill_value``.
* Reading options with no meaning for recblocks' reader (``prefetch_size``, ``shuffle``,
  ``shuffle_buffer_size``, ``num_parallel_calls``, ``shard``, ``file_shard``, ``chief_redundant``,
  ``drop_remainder``, ``pai_worker_*``, ``data_compression_type``) are accepted without effect.
* ``negative_sampler`` (``_v2``, ``_in_memory``) and ``hard_negative_sampler`` (``_v2``) are
  translated on the model (:func:`recblocks.easyrec.translate.translate_pipeline`: a MatchModel's
  ``SAMPLED_SOFTMAX``; the hard negatives' edge table becomes ``data.hard_negatives``).
* ``auto_expand_input_fields: true``: an input field named ``prefix[a-b]`` stands for the fields
  ``prefix<a>`` ... ``prefix<b>`` (same settings), as EasyRec expands it (:func:`expand_input_fields`).
* ``label_sep``/``label_dim``, ``extra_label_func``,
  ``selected_cols`` (but for RTP), ``feature_fields`` and ``input_fields[].user_define_fn`` are a ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes._common import expand_feature_name

__all__ = ["data_section", "expand_input_fields", "input_defaults", "rtp_layout", "CSV_INPUTS", "PARQUET_INPUTS",
           "RTP_INPUTS", "TFRECORD_INPUTS", "NEGATIVE_SAMPLERS"]

CSV_INPUTS = ("CSVInput", "CSVInputV2", "CSVInputEx")
PARQUET_INPUTS = ("ParquetInput", "ParquetInputV2", "ParquetInputV3")
RTP_INPUTS = ("RTPInput", "RTPInputV2")
#: TFRecord inputs -> what one record holds
TFRECORD_INPUTS = {"TFRecordInput": "example", "BatchTFRecordInput": "sequence_example"}
_READ = (*CSV_INPUTS, *PARQUET_INPUTS, *RTP_INPUTS, *TFRECORD_INPUTS)
_REMOTE = ("odps://", "oss://", "hdfs://", "kafka://", "datahub://", "hive://")
#: Samplers of random negatives from an item table: translated on the model (a MatchModel's sampled softmax).
NEGATIVE_SAMPLERS = ("negative_sampler", "negative_sampler_v2", "negative_sampler_in_memory",
                     "hard_negative_sampler", "hard_negative_sampler_v2")
_UNSUPPORTED_DATA = ("label_sep", "label_dim", "extra_label_func", "selected_cols", "selected_col_types",
                     "feature_fields")
_STREAMS = {"kafka_train_input": "train", "datahub_train_input": "train", "hive_train_input": "train",
            "binary_train_input": "train", "kafka_eval_input": "eval", "datahub_eval_input": "eval",
            "hive_eval_input": "eval", "binary_eval_input": "eval"}


def expand_input_fields(data_config: Mapping[str, Any]) -> dict[str, Any]:
    """``data_config`` with ``auto_expand_input_fields`` applied (and the flag dropped).

    Example:
        >>> expand_input_fields({"auto_expand_input_fields": True, "input_fields": [
        ...     {"input_name": "label"}, {"input_name": "f[1-2]", "input_type": "INT64"}]})["input_fields"]
        [{'input_name': 'label'}, {'input_name': 'f1', 'input_type': 'INT64'}, {'input_name': 'f2', 'input_type': 'INT64'}]
    """
    out = {k: v for k, v in data_config.items() if k != "auto_expand_input_fields"}
    if not data_config.get("auto_expand_input_fields"):
        return out
    fields = [{**field, "input_name": name} for field in data_config.get("input_fields", [])
              for name in expand_feature_name(str(field.get("input_name", "")))]
    out["input_fields"] = fields
    return out


def input_defaults(data_config: Mapping[str, Any]) -> dict[str, str]:
    """``input_fields[].default_val`` by input name."""
    return {f["input_name"]: f["default_val"] for f in data_config.get("input_fields", []) if "default_val" in f}


def rtp_layout(data_config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The ``rtp`` layout of an ``RTPInput`` data_config (``where``: the data_config's path).

    Example:
        >>> rtp_layout({"selected_cols": "0,3", "label_fields": ["clk"], "separator": "\x02",
        ...             "input_fields": [{"input_name": "clk"}, {"input_name": "user"}]}, "data_config")
        {'label_columns': [0], 'feature_column': 3, 'label_names': ['clk'], 'feature_names': ['user'], 'feature_separator': '\\x02'}
    """
    text = str(data_config.get("selected_cols", ""))
    try:
        columns = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(join_path(where, "selected_cols"), "RTPInput reads its label and feature columns by "
                          "index", "comma-separated column indices, the feature column last (e.g. '0,3')",
                          repr(text)) from None
    labels = list(data_config.get("label_fields", []))
    if len(labels) != len(columns) - 1:
        raise ConfigError(join_path(where, "selected_cols"), "RTPInput names the label columns (every index but "
                          "the last) by label_fields, in order", f"{len(labels)} label indices and the feature "
                          "column's index", repr(text))
    features = [f["input_name"] for f in data_config.get("input_fields", []) if f.get("input_name") not in labels]
    if not features:
        raise ConfigError(join_path(where, "input_fields"), "RTPInput reads the features named by the input "
                          "fields that are not labels (the input fields a feature-generation json, fg_json_path, "
                          "would give are not read by recblocks: list them)", "at least one such input field", "none")
    return {"label_columns": columns[:-1], "feature_column": columns[-1], "label_names": labels,
            "feature_names": features, "feature_separator": data_config.get("separator", ",")}


def _paths(path: str, where: str) -> str | list[str]:
    parts = [part.strip() for part in path.split(",")]
    if any(not part for part in parts):
        raise ConfigError(where, "an empty path among the comma-joined inputs", "paths joined by ','", repr(path))
    for part in parts:
        if part.startswith(_REMOTE):
            raise ConfigError(where, "remote tables and object stores are not read by recblocks; copy the data to "
                              "local CSV or Parquet files", "a local path", repr(part))
    return parts[0] if len(parts) == 1 else parts


def _source(path: str, where: str, data_config: Mapping[str, Any], fmt: str, at: str) -> dict[str, Any]:
    source: dict[str, Any] = {"path": _paths(path, where), "format": fmt}
    if fmt == "rtp":
        separator = data_config.get("rtp_separator", ";")
        if len(separator) != 1:
            raise ConfigError(join_path(at, "rtp_separator"), "recblocks cuts RTP lines on one character",
                              "a one-character separator", repr(separator))
        source["delimiter"] = separator
        source["rtp"] = rtp_layout(data_config, at)
    if fmt == "rtp_kv":
        source["column_names"] = [f["input_name"] for f in data_config.get("input_fields", [])]
        if not source["column_names"]:
            raise ConfigError(join_path(at, "input_fields"), "RTPInputV2 reads the keys the input fields name",
                              "at least one input field", "none")
    if fmt == "tfrecord":
        source["record"] = TFRECORD_INPUTS[data_config.get("input_type")]
        names = [f["input_name"] for f in data_config.get("input_fields", [])]
        if names:
            source["column_names"] = names
    if fmt == "csv":
        source["delimiter"] = data_config.get("separator", ",")
        header = bool(data_config.get("with_header", False))
        source["header"] = header
        names = [f["input_name"] for f in data_config.get("input_fields", [])]
        if names and not header:
            source["column_names"] = names
    return source


def data_section(pipeline: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """recblocks' ``data:`` mapping for a parsed EasyRec pipeline.

    Example:
        >>> data_section({"train_input_path": "train.csv", "data_config": {"input_type": "CSVInput",
        ...     "separator": "\\t", "input_fields": [{"input_name": "label"}, {"input_name": "user_id"}]}})
        {'train': {'path': 'train.csv', 'format': 'csv', 'delimiter': '\\t', 'header': False, \
'column_names': ['label', 'user_id']}}
    """
    for key, split in _STREAMS.items():
        if key in pipeline:
            raise ConfigError(join_path(where, key), f"streaming and remote {split} inputs are not read by recblocks",
                              "train_input_path / eval_input_path with local files", key)
    data_config = expand_input_fields(pipeline.get("data_config", {}))
    at = join_path(where, "data_config")
    input_type = data_config.get("input_type", "CSVInput")
    if input_type in CSV_INPUTS:
        fmt = "csv"
    elif input_type in PARQUET_INPUTS:
        fmt = "parquet"
    elif input_type in RTP_INPUTS:
        fmt = "rtp" if input_type == "RTPInput" else "rtp_kv"
    elif input_type in TFRECORD_INPUTS:
        fmt = "tfrecord"
    else:
        raise ConfigError(join_path(at, "input_type"), f"{input_type} has no recblocks reader; convert the data to "
                          "CSV or Parquet", f"one of {list(_READ)}", input_type, choices=list(_READ))
    for key in _UNSUPPORTED_DATA:
        if data_config.get(key) and not (fmt in ("rtp", "rtp_kv") and key == "selected_cols"):
            raise ConfigError(join_path(at, key), "has no recblocks equivalent", "the field left out", key)
    for i, field in enumerate(data_config.get("input_fields", [])):
        for key in ("user_define_fn", "user_define_fn_path"):
            if field.get(key):
                raise ConfigError(join_path(at, "input_fields", i, key), "user-defined Python functions are not run "
                                  "by recblocks; precompute the column", "the field left out", field[key])
    out: dict[str, Any] = {}
    for split, keys in (("train", ("train_input_path", "parquet_train_input")),
                        ("valid", ("eval_input_path", "parquet_eval_input"))):
        for key in keys:
            if pipeline.get(key):
                kind = "parquet" if key.startswith("parquet") else fmt
                out[split] = _source(pipeline[key], join_path(where, key), data_config, kind, at)
    if data_config.get("ignore_error"):
        out["max_bad_fraction"] = 1.0
    return out
