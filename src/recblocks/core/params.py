"""Typed parameter models: one source of truth for every default.

``Params`` is a pydantic model that forbids unknown keys, so a misspelt key fails when the
config is read. :func:`parse_params` turns pydantic's errors into a :class:`ConfigError`
that names the dotted config path and suggests the nearest valid key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from recblocks.core.errors import ConfigError, shorten

__all__ = ["Params", "parse_params", "join_path"]

P = TypeVar("P", bound=BaseModel)


class Params(BaseModel):
    """Base of every typed parameter/config model (unknown keys are an error)."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (YAML/JSON-serializable), keeping only non-default fields."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=False)


def join_path(base: str, *parts: object) -> str:
    """Join config path parts: ``join_path('blocks[2]', 'inputs', 0)`` -> ``blocks[2].inputs[0]``."""
    path = base
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = str(part)
    return path


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names valid at ``loc`` inside ``model`` (for did-you-mean); best effort."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = _inner_model(field.annotation)
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        names = list(current.model_fields)
        names += [f.alias for f in current.model_fields.values() if f.alias]
        return names
    return []


def _inner_model(annotation: Any) -> Any:
    """Find a BaseModel class inside ``list[X]``, ``X | None`` and similar annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def parse_params(model: type[P], data: Mapping[str, Any] | None, where: str) -> P:
    """Validate ``data`` against ``model``; raise ConfigError naming ``where`` and the bad key.

    Example:
        >>> class MLPParams(Params):
        ...     hidden_units: list[int]
        >>> parse_params(MLPParams, {"hidden_unit": [1]}, "blocks[0]")
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: blocks[0].hidden_unit: unknown parameter of MLPParams; expected one of ['hidden_units'], got 'hidden_unit'; did you mean 'hidden_units'?
    """
    if data is None:
        data = {}
    if isinstance(data, BaseModel):
        data = data.model_dump()
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"parameters of {model.__name__} must be a mapping", "a mapping", type(data).__name__)
    try:
        return model.model_validate(dict(data), context={"where": where})
    except ValidationError as exc:
        errors = exc.errors()
        extra = [e for e in errors if e.get("type") == "extra_forbidden"]
        first = extra[0] if extra else errors[0]
        loc = tuple(first.get("loc", ()))
        path = join_path(where, *loc)
        kind = first.get("type", "")
        if kind == "extra_forbidden":
            names = _field_names(model, loc)
            raise ConfigError(
                path,
                f"unknown parameter of {model.__name__ if len(loc) == 1 else 'this section'}",
                f"one of {sorted(names)}",
                repr(loc[-1]) if loc else None,
                choices=names,
            ) from None
        if kind == "missing":
            raise ConfigError(path, "required parameter is missing", "a value", "nothing") from None
        message = str(first.get("msg", "invalid value")).rstrip(".")
        if "input" in first and not isinstance(first["input"], Mapping):
            value = first["input"]
            message += f" (got {shorten(repr(value)) if isinstance(value, str) else shorten(value)})"
        raise ConfigError(path, message) from None
