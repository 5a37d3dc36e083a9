"""Plain-text tables of a model's plan rows (block, body, inputs, output shape, parameters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["format_table"]


def format_table(rows: Sequence[dict[str, Any]], total: int | None = None, max_width: int = 48) -> str:
    """The rows of ``model.summary_rows()`` as an aligned table; a cell wider than
    ``max_width`` is cut with ``...``; ``total`` adds a ``total parameters`` line.

    Example:
        >>> print(format_table([{"scope": "backbone", "block": "mlp", "body": "MLP", "inputs": ["group:all"],
        ...                      "output": "(B, 8)", "params": 72}], total=72))
        block  body  inputs     output  params
        -----  ----  ---------  ------  ------
        mlp    MLP   group:all  (B, 8)  72
        total parameters: 72
    """
    head = ("block", "body", "inputs", "output", "params")
    cells = [(r["block"] if r["scope"] in ("backbone", "model") else f"{r['scope']}/{r['block']}", r["body"],
              ", ".join(r["inputs"]), r["output"], f"{r['params']:,}") for r in rows]
    widths = [min(max_width, max(len(h), *(len(c[i]) for c in cells))) for i, h in enumerate(head)]

    def line(values: Sequence[str]) -> str:
        return "  ".join((v if len(v) <= w else v[: w - 3] + "...").ljust(w) for v, w in zip(values, widths)).rstrip()

    lines = [line(head), line(["-" * w for w in widths]), *map(line, cells)]
    if total is not None:
        lines.append(f"total parameters: {total:,}")
    return "\n".join(lines)
