"""Columns computed from other columns at preprocessing: map lookups and arithmetic expressions.

* ``lookup: {key: K, kv_separator: ":"}`` on a ``multi`` feature (EasyRec's ``LookupFeature``):
  the feature's own column holds a map per row, ``k1:v1|k2:v2`` (entries split by the feature's
  ``separator``, key and value by ``kv_separator``); the row's values are those of the entries
  whose key equals the row's value of column ``K``, the first ``max_selected`` of them
  (EasyRec's ``lookup_max_sel_elem_num``), read as ids.
* ``expression: {formula: "...", columns: [a, b]}`` on a ``dense`` feature (EasyRec's
  ``ExprFeature``): a number per row computed from numeric columns. The formula is parsed by a
  small allow-list grammar, never evaluated as code: column names (only those listed), numbers,
  ``+ - * /``, parentheses, the comparisons ``> >= < <= ==`` and ``&`` / ``|`` (and / or).
  As EasyRec reads it, arithmetic binds tighter; comparisons and ``&`` / ``|`` then share one
  level, applied left to right (write parentheses: ``(a>=b) & (a<=b+5)``). A comparison gives
  1 or 0; a null or unparseable input gives NaN, which the feature then fills.

Both are columnar (pyarrow.compute and numpy); no Python runs per row.

Example:
    >>> import pyarrow as pa
    >>> lookup_values(pa.array(["a", "b"]), pa.array(["a:1|b:2|a:3", "c:4"]), "|", ":", 10).to_pylist()
    [['1', '3'], []]
    >>> evaluate(Expression.parse("(x>=1) & (x<y+5)", ["x", "y"], "f"),
    ...          {"x": pa.array([0, 2, 9]), "y": pa.array([0, 0, 9])}, "f").tolist()
    [0.0, 1.0, 1.0]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params
from recblocks.features.columns import is_missing_string, parse_numbers, to_lists, to_strings

__all__ = ["LookupSpec", "ExpressionSpec", "Expression", "lookup_values", "evaluate"]


class LookupSpec(Params):
    """Where a looked-up feature finds its key (see the module docstring)."""

    key: str = Field(min_length=1, description="the column holding each row's key")
    kv_separator: str = Field(min_length=1)
    max_selected: int = Field(default=10, ge=1, le=2**16)


class ExpressionSpec(Params):
    """A formula over numeric columns (see the module docstring)."""

    formula: str = Field(min_length=1, max_length=1000)
    columns: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _parses(self) -> "ExpressionSpec":
        try:
            Expression.parse(self.formula, self.columns, "formula")
        except ConfigError as error:  # reported at the feature's config path by the params parser
            raise ValueError(f"formula: {error.problem}; expected {error.expected}, got {error.got}") from None
        return self


def lookup_values(keys: pa.Array, maps: pa.Array, separator: str | None, kv_separator: str,
                  max_selected: int, where: str = "lookup") -> pa.Array:
    """A list array: for each row, the values of the map entries whose key is the row's key."""
    n = len(keys)
    entries = to_lists(maps, separator, where)
    flat = pc.list_flatten(entries)
    parents = np.asarray(pc.list_parent_indices(entries).to_numpy(zero_copy_only=False), dtype=np.int64)
    if len(flat):
        present = ~is_missing_string(flat)
        flat, parents = flat.filter(pa.array(present)), parents[present]
    parts = pc.split_pattern(pc.cast(flat, pa.string()), pattern=kv_separator, max_splits=1)
    pieces = pc.list_flatten(parts)
    owner = np.asarray(pc.list_parent_indices(parts).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.searchsorted(owner, np.arange(len(flat)))
    has_value = np.bincount(owner, minlength=len(flat)) > 1
    row_keys = to_strings(keys, where)
    entry_keys = pieces.take(pa.array(starts))
    same = pc.fill_null(pc.equal(entry_keys, row_keys.take(pa.array(parents))), False)
    chosen = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool) & has_value
    rows = parents[chosen]
    values = pieces.take(pa.array(starts[chosen] + 1))
    counts = np.bincount(rows, minlength=n)
    rank = np.arange(len(rows), dtype=np.int64) - (np.cumsum(counts) - counts)[rows]
    keep = rank < max_selected
    kept = np.bincount(rows[keep], minlength=n)
    offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values.filter(pa.array(keep)))


_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)"
                    r"|(>=|<=|==|[-+*/()<>&|]))")
_RELATIONS = (">", ">=", "<", "<=", "==", "&", "|")


@dataclass(frozen=True)
class Expression:
    """A parsed formula: a tree of ``("num", x)``, ``("col", name)``, ``("neg", e)`` and ``(op, a, b)``."""

    tree: tuple

    @classmethod
    def parse(cls, formula: str, columns: list[str], where: str) -> "Expression":
        tokens, pos = [], 0
        while pos < len(formula.rstrip()):
            match = _TOKEN.match(formula, pos)
            if match is None:
                raise ConfigError(where, "the formula has a character outside the allowed grammar", "column names, "
                                  "numbers, + - * / ( ) > >= < <= == & |", repr(formula[pos:pos + 10]))
            number, name, op = match.groups()
            if name is not None and name not in columns:
                raise ConfigError(where, "the formula names a column it does not list", f"one of {columns}",
                                  repr(name), choices=columns)
            tokens.append(("num", float(number)) if number else ("col", name) if name else ("op", op))
            pos = match.end()
        parser = _Parser(tokens, where)
        tree = parser.relation()
        if parser.pos != len(tokens):
            raise ConfigError(where, "the formula does not parse", "one expression", repr(formula))
        return cls(tree)


class _Parser:
    """Recursive descent over the tokens: relation > sum > product > unary > atom."""

    def __init__(self, tokens: list[tuple], where: str) -> None:
        self.tokens, self.pos, self.where = tokens, 0, where

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "op" else None

    def _binary(self, ops: tuple[str, ...], operand) -> tuple:
        tree = operand()
        while self._peek() in ops:
            op = self._peek()
            self.pos += 1
            tree = (op, tree, operand())
        return tree

    def relation(self) -> tuple:
        return self._binary(_RELATIONS, self.sum)

    def sum(self) -> tuple:
        return self._binary(("+", "-"), self.product)

    def product(self) -> tuple:
        return self._binary(("*", "/"), self.unary)

    def unary(self) -> tuple:
        if self._peek() == "-":
            self.pos += 1
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> tuple:
        if self.pos >= len(self.tokens):
            raise ConfigError(self.where, "the formula ends early", "an operand", "end of formula")
        token = self.tokens[self.pos]
        self.pos += 1
        if token[0] in ("num", "col"):
            return token
        if token[1] == "(":
            tree = self.relation()
            if self._peek() != ")":
                raise ConfigError(self.where, "unbalanced parentheses in the formula", "')'", "none")
            self.pos += 1
            return tree
        raise ConfigError(self.where, "the formula does not parse", "an operand", repr(token[1]))


_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal}


def evaluate(expression: Expression, columns: Mapping[str, pa.Array], where: str) -> np.ndarray:
    """The formula's float64 value per row (NaN where an input is missing or unparseable)."""
    values = {name: parse_numbers(array, where)[0] for name, array in columns.items()}
    n = len(next(iter(columns.values())))

    def run(tree: tuple) -> np.ndarray:
        kind = tree[0]
        if kind == "num":
            return np.full(n, tree[1])
        if kind == "col":
            return values[tree[1]]
        if kind == "neg":
            return -run(tree[1])
        a, b = run(tree[1]), run(tree[2])
        unknown = np.isnan(a) | np.isnan(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind in _ARITHMETIC:
                return _ARITHMETIC[kind](a, b)
            if kind in _COMPARE:
                out = _COMPARE[kind](a, b).astype(np.float64)
            elif kind == "&":
                out = ((a != 0) & (b != 0)).astype(np.float64)
            else:
                out = ((a != 0) | (b != 0)).astype(np.float64)
        return np.where(unknown, np.nan, out)

    return run(expression.tree)
