"""The serving graph: the trained model behind a fixed signature of named tensors.

:func:`plan_inputs` lists the inputs a model reads (one per feature, in schema order) with
dtype, shape (``"batch"`` first) and encoding:

* ``ids``: int64 local ids as :class:`~recblocks.features.batch.Batch` holds them (``0``
  padding, ``1`` missing or unseen, ``2..`` values): vocabulary lookup and string hashing
  happen before the graph (see ``preprocess.json``);
* ``numbers``: float32 values already encoded (vectors ``(B, N)``, sequences of numbers
  ``(B, L)``/``(B, L, N)`` with NaN padding);
* ``raw_number``: float64 raw values of a scalar ``dense`` feature, NaN (or ±inf, or beyond
  float32's range) where missing: the graph fills ``fill_value`` and normalises
  (:class:`NumberInput`);
* ``raw_bucket``: float64 raw values of a ``bucketized`` feature: the graph fills and
  bucketises (``count(boundaries <= x) + 2``).

:class:`ServingGraph` ``forward(*inputs)`` returns the activated outputs (one per task, then
the blocks' extra outputs) as a tuple, in :attr:`ServingGraph.output_names` order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from recblocks.core.errors import DataError
from recblocks.features.columns import FLOAT32_MAX, as_array, parse_numbers
from recblocks.features.preprocess import Preprocessor
from recblocks.features.vectors import is_vector

__all__ = ["GraphInput", "NumberInput", "ServingGraph", "plan_inputs", "example_inputs", "serving_inputs",
           "used_features", "activated"]


def activated(model: nn.Module, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's activated outputs by name (the trainer contract: ``predictions(forward(x))``)."""
    return model.predictions(model(features))


@dataclass(frozen=True)
class GraphInput:
    """One named input of the serving graph."""

    name: str
    dtype: str  # "int64" | "float32" | "float64"
    shape: tuple[Any, ...]  # ("batch", fixed sizes...)
    encoding: str  # "ids" | "numbers" | "raw_number" | "raw_bucket"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shape"] = list(self.shape)
        return data


def _encoded_input(feature: Any) -> GraphInput:
    """The input of a feature as the preprocessor encodes it (shapes of :class:`Batch`)."""
    numbers = getattr(feature, "values", "ids") == "numbers"
    if feature.kind == "sequence" and numbers:
        if feature.boundaries is not None:
            return GraphInput(feature.name, "int64", ("batch", feature.max_len), "ids")
        shape = ("batch", feature.max_len) if feature.dim == 1 else ("batch", feature.max_len, feature.dim)
        return GraphInput(feature.name, "float32", shape, "numbers")
    if feature.kind in ("multi", "sequence"):
        return GraphInput(feature.name, "int64", ("batch", feature.max_len), "ids")
    if feature.kind == "dense":
        return GraphInput(feature.name, "float32", ("batch",) if feature.dim == 1 else ("batch", feature.dim),
                          "numbers")
    return GraphInput(feature.name, "int64", ("batch",), "ids")


def _graph_input(feature: Any, in_graph: bool) -> GraphInput:
    """Scalar dense and bucketized features take raw float64 numbers when ``in_graph``."""
    if in_graph and feature.kind == "dense" and not is_vector(feature):
        return GraphInput(feature.name, "float64", ("batch",), "raw_number")
    if in_graph and feature.kind == "bucketized":
        return GraphInput(feature.name, "float64", ("batch",), "raw_bucket")
    return _encoded_input(feature)


class _Recording(dict):
    """A feature dict that records which names the model reads."""

    def __init__(self, data: Mapping[str, torch.Tensor]) -> None:
        super().__init__(data)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> torch.Tensor:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def items(self):  # type: ignore[override]
        self.read.update(self.keys())
        return super().items()

    def values(self):  # type: ignore[override]
        self.read.update(self.keys())
        return super().values()


def example_inputs(inputs: list[GraphInput], preprocessor: Preprocessor, batch: int, seed: int = 0
                   ) -> list[torch.Tensor]:
    """Random valid inputs: ids in ``[1, table rows)``, lists of 1..L ids then padding, numbers
    ``N(0, 3)`` (one missing raw number), NaN padding in sequences of numbers."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in inputs:
        shape = (batch, *spec.shape[1:])
        if spec.dtype == "int64":
            high = max(2, preprocessor.num_embeddings(spec.name))
            ids = torch.randint(1, high, shape, generator=generator)
            if len(shape) == 2:  # left-aligned lists of 1..L elements
                lengths = torch.randint(1, shape[1] + 1, (batch, 1), generator=generator)
                ids = torch.where(torch.arange(shape[1]).unsqueeze(0) < lengths, ids, torch.zeros_like(ids))
            tensors.append(ids)
            continue
        values = torch.randn(shape, generator=generator, dtype=torch.float64) * 3
        if spec.encoding == "numbers" and preprocessor.schema[spec.name].kind == "sequence":
            lengths = torch.randint(1, shape[1] + 1, (batch,), generator=generator)
            for row, length in enumerate(lengths.tolist()):
                values[row, length:] = float("nan")
        if spec.encoding.startswith("raw_"):
            values[0] = float("nan")
        tensors.append(values.to(torch.float64 if spec.dtype == "float64" else torch.float32))
    return tensors


def used_features(model: nn.Module, preprocessor: Preprocessor) -> list[str]:
    """The schema features the model reads, in schema order (found by running it)."""
    inputs = [_encoded_input(f) for f in preprocessor.schema]
    record = _Recording(dict(zip([i.name for i in inputs], example_inputs(inputs, preprocessor, 3))))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        activated(model, record)
    model.train(was_training)
    return [f.name for f in preprocessor.schema if f.name in record.read]


def plan_inputs(model: nn.Module, preprocessor: Preprocessor, in_graph: bool = True) -> list[GraphInput]:
    """One :class:`GraphInput` per feature the model reads (see the module docstring)."""
    return [_graph_input(preprocessor.schema[name], in_graph) for name in used_features(model, preprocessor)]


class NumberInput(nn.Module):
    """Missing-value fill, then normalisation (float32 out) or bucketisation (int64 ids out).

    Runs in float64 exactly as the Python preprocessing does: NaN, ±inf and ``|x| > 3.4e38``
    become ``fill_value``; a normalised value beyond float32's range is refilled.

    Shape:
        - Input: ``(B,)`` float64.
        - Output: ``(B,)`` float32 (dense) or int64 (bucket ids ``count(boundaries <= x) + 2``).
    """

    def __init__(self, feature: Any, preprocessor: Preprocessor) -> None:
        super().__init__()
        self.fill = float(feature.fill_value)
        self.bucketize = feature.kind == "bucketized"
        self.kind = "none" if self.bucketize else feature.normalization
        self.shift, self.scale = 0.0, 1.0
        if self.kind in ("standard", "minmax"):
            stats = preprocessor.dense_stats_[feature.name]
            if self.kind == "standard":
                self.shift, self.scale = float(stats["mean"]), float(stats["std"] or 1.0)
            else:
                self.shift, self.scale = float(stats["min"]), float((stats["max"] - stats["min"]) or 1.0)
        self.refill = float(self._normalize(torch.tensor(self.fill, dtype=torch.float64)))
        bounds = preprocessor.boundaries_.get(feature.name, []) if self.bucketize else []
        self.register_buffer("boundaries", torch.tensor(bounds, dtype=torch.float64).reshape(1, -1))

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind in ("standard", "minmax"):
            return (x - self.shift) / self.scale
        if self.kind == "log1p":
            return torch.sign(x) * torch.log1p(torch.abs(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.where(torch.abs(x) <= FLOAT32_MAX, x, torch.full_like(x, self.fill))  # NaN fails <=
        if self.bucketize:
            return (self.boundaries <= x.unsqueeze(1)).sum(dim=1).to(torch.int64) + 2
        out = self._normalize(x)
        refill = torch.full_like(out, self.refill)
        return torch.where(torch.abs(out) <= FLOAT32_MAX, out, refill).to(torch.float32)


class ServingGraph(nn.Module):
    """``forward(*inputs)`` -> activated outputs, for a trained model and its inputs plan.

    Args:
        model: a trained model (``predictions(forward(features))``), used in eval mode.
        inputs: the plan of :func:`plan_inputs`.
        preprocessor: the fitted preprocessor (constants of the in-graph number inputs).
        output_names: the outputs to return, in order (keys of :func:`activated`).
    """

    def __init__(self, model: nn.Module, inputs: list[GraphInput], preprocessor: Preprocessor,
                 output_names: list[str]) -> None:
        super().__init__()
        self.model = model.eval()
        self.input_names = [spec.name for spec in inputs]
        self.output_names = list(output_names)
        self.numbers = nn.ModuleDict({spec.name: NumberInput(preprocessor.schema[spec.name], preprocessor)
                                      for spec in inputs if spec.encoding.startswith("raw_")})

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = {}
        for name, tensor in zip(self.input_names, inputs):
            features[name] = self.numbers[name](tensor) if name in self.numbers else tensor
        scores = activated(self.model, features)
        return tuple(scores[name] for name in self.output_names)


def serving_inputs(inputs: list[GraphInput], preprocessor: Preprocessor, table: pa.Table,
                   where: str = "data") -> dict[str, np.ndarray]:
    """The graph's inputs for the rows of ``table``, by name: encoded features through the
    preprocessor, raw numbers parsed to float64 (NaN where missing; a dense feature with
    ``allow_missing: false`` refuses missing values as the preprocessing does)."""
    batch, _ = preprocessor.transform(table)
    out: dict[str, np.ndarray] = {}
    for spec in inputs:
        if spec.encoding.startswith("raw_"):
            feature = preprocessor.schema[spec.name]
            values, _ = parse_numbers(as_array(table.column(feature.source_column)), f"feature '{spec.name}'")
            if feature.kind == "dense" and not feature.allow_missing and not (np.abs(values) <= FLOAT32_MAX).all():
                raise DataError(f"feature '{spec.name}'", "missing values while allow_missing is false",
                                "finite numbers", "a missing value")
            out[spec.name] = np.ascontiguousarray(values, dtype=np.float64)
        else:
            out[spec.name] = batch.features[spec.name].numpy()
    return out
