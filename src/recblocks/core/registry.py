"""An explicit registry of named classes with typed parameters.

Registration is a decorator with the registry name plus aliases (EasyRec spellings); no
metaclass magic and no directory-walking imports. Looking up an unknown name raises a
ConfigError that suggests the nearest registered name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params

__all__ = ["Registry", "RegistryEntry", "COMPONENTS"]


@dataclass(frozen=True)
class RegistryEntry:
    """One registered class: its canonical name, the class, its params model and aliases."""

    name: str
    cls: type
    params: type[Params]
    aliases: tuple[str, ...] = field(default=())


class Registry:
    """Name -> class table for one kind of thing (components, tasks, optimizers...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self, name: str, params: type[Params], aliases: Iterable[str] = ()
    ) -> Callable[[type], type]:
        """Class decorator: ``@COMPONENTS.register("FM", params=FMParams)``."""

        def decorate(cls: type) -> type:
            if name in self._entries or name in self._aliases:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            entry = RegistryEntry(name, cls, params, tuple(aliases))
            self._entries[name] = entry
            for alias in entry.aliases:
                if alias in self._entries or alias in self._aliases:
                    raise ValueError(f"{self.kind} alias '{alias}' is registered twice")
                self._aliases[alias] = name
            cls.registry_name = name  # type: ignore[attr-defined]
            cls.params_cls = params  # type: ignore[attr-defined]
            return cls

        return decorate

    def get(self, name: str, where: str = "") -> RegistryEntry:
        """Entry for ``name`` or an alias; ConfigError with a suggestion when unknown."""
        canonical = self._aliases.get(name, name)
        entry = self._entries.get(canonical)
        if entry is None:
            raise ConfigError(
                where or name,
                f"unknown {self.kind}",
                f"one of {self.names()}",
                repr(name),
                choices=[*self._entries, *self._aliases],
            )
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry]:
        """All entries, sorted by canonical name."""
        return [self._entries[n] for n in self.names()]

    def describe(self) -> list[dict[str, Any]]:
        """Names, aliases and parameter fields with their types and defaults (for the CLI)."""
        rows = []
        for entry in self.entries():
            fields = []
            for fname, finfo in entry.params.model_fields.items():
                default = "required" if finfo.is_required() else repr(finfo.get_default(call_default_factory=True))
                annotation = getattr(finfo.annotation, "__name__", None) or str(finfo.annotation)
                fields.append({"name": fname, "type": annotation.replace("typing.", ""), "default": default})
            rows.append({"name": entry.name, "aliases": list(entry.aliases), "params": fields,
                         "summary": (entry.cls.__doc__ or "").strip().splitlines()[0] if entry.cls.__doc__ else ""})
        return rows


COMPONENTS = Registry("component")
