"""Callbacks a config can name: the ``CALLBACKS`` registry, their typed params, and what a run
tells them (``train.callbacks: [{type: tensorboard, ...}]``).

A shipped callback is a :class:`TrackingCallback` (a :class:`~recblocks.training.Callback`
that may write files or talk to a tracking server) registered with its params model::

    @CALLBACKS.register("tensorboard", params=TensorBoardParams)
    class TensorBoardCallback(TrackingCallback): ...

The params model is a :class:`CallbackParams` whose ``type`` defaults to the registered name;
:func:`parse_callback` reads a config entry into it (an unknown type or key is a ConfigError
naming ``train.callbacks[i]`` with a did-you-mean), and ``from_params`` makes the callback
from it, so a config entry and ``Model.fit(callbacks=[TensorBoardCallback(...)])`` make the
same object.

Before a fit, the run (:class:`~recblocks.runs.experiment.Experiment`) calls
:meth:`TrackingCallback.attach` with a :class:`RunContext`: the run directory to write into
(None when there is none) and the resolved config; after the fit, successful or not, it calls
:meth:`TrackingCallback.close`. A user's own callback needs neither: subclass
:class:`~recblocks.training.Callback` and override the hooks it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import SerializationInfo, model_serializer

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path, parse_params
from recblocks.core.registry import ClassEntry, Registry, describe_params
from recblocks.training.callbacks import Callback

__all__ = ["CALLBACKS", "CallbackParams", "CallbackSpec", "RunContext", "RunOutput", "TrackingCallback",
           "build_callback", "parse_callback", "parse_callbacks"]


class CallbackParams(Params):
    """Base of a shipped callback's params: ``type`` is the registered name (always serialised)."""

    type: str

    @model_serializer(mode="wrap")
    def _type_always(self, handler: Any, info: SerializationInfo) -> Any:
        data = handler(self)
        return {"type": self.type, **data} if isinstance(data, dict) else data


@dataclass(frozen=True, kw_only=True)
class CallbackSpec(ClassEntry):
    """One shipped callback: its :class:`TrackingCallback` class and its params model."""

    params: type[CallbackParams]

    def facts(self) -> dict[str, Any]:
        return {"params": [p for p in describe_params(self.params) if p["name"] != "type"]}


CALLBACKS: Registry[CallbackSpec] = Registry("callback", CallbackSpec, case_sensitive=False)


class RunOutput(Protocol):
    """The part of a run directory a callback writes through
    (:class:`~recblocks.runs.run_dir.RunDir` implements it)."""

    path: Path

    def open_folder(self, name: str, writer: str) -> Path:
        """Create the sub-folder ``name`` (listed in the run manifest as being written)."""

    def record_folder(self, name: str, done: bool = False) -> None:
        """List the files of the sub-folder ``name`` in the manifest (sizes once ``done``)."""


@dataclass
class RunContext:
    """What a run tells its callbacks before the fit.

    Attributes:
        run: the run directory being written, or None (``Model.fit`` without ``output``).
        config: the resolved run config as plain data (every section, defaults included).
    """

    run: RunOutput | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


class TrackingCallback(Callback):
    """A callback that a config can declare: made from its params, told about the run before
    the fit (:meth:`attach`), and closed after it (:meth:`close`, also when the fit fails)."""

    params_type: ClassVar[type[CallbackParams]] = CallbackParams
    #: Where errors about this callback point (``train.callbacks[i]`` for a config entry).
    where: str = ""

    @classmethod
    def from_params(cls, params: CallbackParams, where: str = "") -> "TrackingCallback":
        """The callback for a parsed config entry."""
        callback = cls(**{name: getattr(params, name) for name in type(params).model_fields if name != "type"})
        callback.where = where or callback.where
        return callback

    @classmethod
    def check_available(cls, where: str) -> None:
        """Raise a ConfigError naming ``where`` (and the install command) when a package the
        callback needs is missing; called before any data is read."""

    def attach(self, context: RunContext) -> None:
        """Before the fit: the run directory (or None) and the resolved config. Raise a
        ConfigError here for anything that makes the callback unusable (nothing trained yet)."""

    def close(self) -> None:
        """After the fit (also a failed one): release files, threads, tracking runs. Must be
        safe to call twice."""


def parse_callback(value: Any, where: str) -> CallbackParams:
    """A config entry (``{type: tensorboard, ...}`` or a bare type name) as the registered
    callback's params; ConfigError naming ``where`` for an unknown type or key."""
    if isinstance(value, CallbackParams):
        return value
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping):
        raise ConfigError(where, "a callback must be a mapping with a type", "e.g. {type: tensorboard}",
                          type(value).__name__)
    if "type" not in value:
        raise ConfigError(join_path(where, "type"), "a callback needs its type", f"one of {CALLBACKS.names()}",
                          "no type")
    entry = CALLBACKS.get(value["type"], join_path(where, "type"))
    return parse_params(entry.params, {**value, "type": entry.name}, where)


def parse_callbacks(values: Any, where: str) -> list[CallbackParams]:
    """Every entry of ``train.callbacks``; a type named twice is a ConfigError (each shipped
    callback writes one log per run)."""
    if values is None:
        return []
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        raise ConfigError(where, "callbacks must be a list", "e.g. [{type: tensorboard}]", type(values).__name__)
    parsed, seen = [], {}
    for index, value in enumerate(values):
        params = parse_callback(value, join_path(where, index))
        if params.type in seen:
            raise ConfigError(join_path(where, index, "type"), f"the {params.type} callback is declared twice",
                              "each callback type at most once", f"also {join_path(where, seen[params.type])}")
        seen[params.type] = index
        parsed.append(params)
    return parsed


def build_callback(params: CallbackParams, where: str = "") -> TrackingCallback:
    """The callback object of a parsed config entry."""
    return CALLBACKS.get(params.type, where).cls.from_params(params, where)
