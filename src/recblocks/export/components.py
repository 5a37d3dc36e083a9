"""Export one registered component and compare it with eager: the contract test's export step.

:func:`check_component_export` builds the component from a registration example, runs it in
eval mode on random inputs, writes it in a serving format (:mod:`recblocks.export.formats`),
reads it back and compares the outputs on a batch of another size (so a batch size baked
into a graph is caught). A component registered with ``export_refused`` must instead be
refused by :func:`export_component` with an :class:`ExportError` naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recblocks.core.context import ForwardContext
from recblocks.core.params import parse_params
from recblocks.core.registry import COMPONENTS
from recblocks.export.errors import ExportError
from recblocks.export.formats import FILE_NAMES, load_graph, write_graph

__all__ = ["check_component_export", "export_component", "refuse_unexportable", "TOLERANCE", "difference"]

#: largest difference allowed between eager and exported float32 outputs: absolute for values in
#: [-1, 1] (every probability), relative beyond (a retrieval score, cosine / temperature 0.1, reaches 10,
#: where float32 steps are ~1e-6 and reordered sums differ by a few of them)
TOLERANCE = 1e-6


def difference(expected: np.ndarray, got: np.ndarray) -> tuple[float, bool]:
    """``(largest absolute difference, every element within tolerance)``: ``|a - b| <=
    TOLERANCE * max(1, |a|)``. NaN matches NaN at the same place (padding); any other NaN fails."""
    a, b = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if a.size == 0:
        return 0.0, True
    same_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(same_nan, 0.0, np.abs(a - b))
    allowed = TOLERANCE * np.maximum(1.0, np.abs(np.nan_to_num(a)))
    return float(np.max(diff)), bool(np.all(diff <= allowed))


def _flatten(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flatten(v)]
    if isinstance(value, dict):
        return [t for k in sorted(value) for t in _flatten(value[k])]
    return []


def _rebuild(template: Any, flat: list[torch.Tensor], start: int = 0) -> tuple[Any, int]:
    """``template``'s structure filled with ``flat`` tensors from ``start``; returns the next index."""
    if isinstance(template, torch.Tensor):
        return flat[start], start + 1
    if isinstance(template, (list, tuple)):
        items = []
        for item in template:
            value, start = _rebuild(item, flat, start)
            items.append(value)
        return (items if isinstance(template, list) else tuple(items)), start
    return template, start


class _FlatComponent(nn.Module):
    """``forward(*tensors)``: the inputs rebuilt to the component's structure, the outputs
    (and, for a ``uses_context`` component, what it adds to the context) as a flat tuple."""

    def __init__(self, component: nn.Module, template: Any) -> None:
        super().__init__()
        self.component = component
        self.template = template
        self.uses_context = bool(getattr(component, "uses_context", False))

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inputs, _ = _rebuild(self.template, list(tensors))
        if not self.uses_context:
            return tuple(_flatten(self.component(inputs)))
        context = ForwardContext(False, {})
        out = self.component(inputs, context)
        added = [v for v, _ in context.losses.values()] + list(context.outputs.values())
        return tuple(_flatten(out) + _flatten(added))


def refuse_unexportable(module: nn.Module, where: str, fmt: str) -> None:
    """An :class:`ExportError` naming the first component inside ``module`` whose registration
    refuses ``fmt`` (``export_refused``), with the registered reason."""
    for name, sub in module.named_modules():
        registered = getattr(type(sub), "registry_name", None)
        if registered is None or registered not in COMPONENTS:
            continue
        reason = COMPONENTS.get(registered).export_refused.get(fmt)
        if reason:
            place = f"{where}.{name} (component {registered})" if name else where
            raise ExportError(place, f"cannot be exported to {fmt}: {reason}")


def export_component(name: str, params: Any, input_spec: Any, fmt: str, folder: Path, batch: int = 5,
                     seed: int = 0) -> tuple[nn.Module, Any, Path]:
    """Build component ``name`` from ``params`` for ``input_spec`` and write it to ``folder``
    in ``fmt``; returns (eager module in eval mode, input template, file)."""
    from recblocks.testing import random_inputs

    entry = COMPONENTS.get(name)
    where = f"component {entry.name}"
    module = entry.cls.from_spec(parse_params(entry.params, dict(params or {}), where), input_spec, entry.name)
    module.eval()
    refuse_unexportable(module, where, fmt)
    template = random_inputs(input_spec, batch, torch.Generator().manual_seed(seed))
    flat = _FlatComponent(module, template)
    example = _flatten(template)
    names = [f"input_{i}" for i in range(len(example))]
    with torch.no_grad():
        outputs = flat(*example)
    path = Path(folder) / FILE_NAMES[fmt]
    labels = {id(m): f"{where} (module {type(m).__name__})" for m in module.modules()}
    labels[id(module)] = where
    write_graph(flat, example, names, [f"output_{i}" for i in range(len(outputs))], fmt, path, where, labels)
    return module, template, path


def check_component_export(name: str, params: Any, input_spec: Any, fmt: str, folder: Path,
                           seed: int = 0) -> float:
    """Export the component, reload it, and return the largest absolute difference from eager
    on a batch of 3 rows (the export used 5); AssertionError above :data:`TOLERANCE`."""
    from recblocks.testing import random_inputs

    module, _, path = export_component(name, params, input_spec, fmt, folder, seed=seed)
    template = random_inputs(input_spec, 3, torch.Generator().manual_seed(seed + 1))
    flat = _FlatComponent(module, template)
    example = _flatten(template)
    names = [f"input_{i}" for i in range(len(example))]
    with torch.no_grad():
        expected = [t.numpy() for t in flat(*example)]
    got = load_graph(fmt, path, names)({n: t.numpy() for n, t in zip(names, example)})
    if len(got) != len(expected):
        raise AssertionError(f"{name} ({fmt}): {len(got)} outputs exported, {len(expected)} eager")
    worst = 0.0
    for i, (a, b) in enumerate(zip(expected, got)):
        if a.shape != b.shape:
            raise AssertionError(f"{name} ({fmt}): output {i} has shape {b.shape}, eager {a.shape}")
        diff, ok = difference(a, b)
        if not ok:
            raise AssertionError(f"{name} ({fmt}): output {i} differs from eager by {diff:.3g}")
        worst = max(worst, diff)
    return worst
