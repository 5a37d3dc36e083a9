"""Registries: one generic name -> entry table for every kind of thing recblocks looks up by name.

Components, task types, metrics, optimizers, learning-rate schedules and model classes each
live in one :class:`Registry`. An entry carries *every* fact about what it registers (a params
model with defaults and ranges, an input kind, examples, aliases, docs...), so no table
elsewhere repeats them. Registration is explicit (a decorator or :meth:`Registry.add`); no
metaclass magic and no directory-walking imports.

Looking up an unknown name raises a :class:`~recblocks.core.errors.ConfigError` naming the
place and suggesting the nearest registered name or alias (a case-insensitive match first).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True)
    ... class ColourEntry(RegistryEntry):
    ...     rgb: tuple[int, int, int]
    >>> COLOURS = Registry("colour", ColourEntry)
    >>> _ = COLOURS.add(ColourEntry(name="red", rgb=(255, 0, 0), aliases=("rouge",)))
    >>> COLOURS.get("rouge").rgb
    (255, 0, 0)
    >>> COLOURS.get("Red", "style.colour")
    Traceback (most recent call last):
    ...
    recblocks.core.errors.ConfigError: style.colour: unknown colour; expected one of ['red'], got 'Red'; did you mean 'red'?
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, ClassVar, Generic, Literal, NamedTuple, TypeVar, Union, get_args, get_origin

from pydantic.fields import FieldInfo

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params

__all__ = [
    "COMPONENTS",
    "INPUT_KINDS",
    "ClassEntry",
    "ComponentExample",
    "ComponentSpec",
    "InputKind",
    "Registry",
    "RegistryEntry",
    "describe_params",
    "first_line",
    "type_text",
]


def first_line(doc: str | None) -> str:
    """The first non-empty line of a docstring ("" when there is none)."""
    for line in (doc or "").strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True, kw_only=True)
class RegistryEntry:
    """What a registry holds for one name: the canonical name, its aliases, a one-line summary.

    Subclasses add the registered object and the facts about it as fields; ``target`` names the
    field that :meth:`Registry.register` fills with the decorated object.
    """

    target: ClassVar[str] = ""

    name: str
    aliases: tuple[str, ...] = ()
    summary: str = ""

    def attach(self) -> None:
        """Called once when the entry is added (e.g. to tell a class its registry name)."""

    def facts(self) -> dict[str, Any]:
        """Plain-data facts shown by :meth:`describe` beside name, aliases and summary."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Name, aliases, summary and the entry's facts as plain data (for the CLI and docs)."""
        return {"name": self.name, "aliases": list(self.aliases), "summary": self.summary, **self.facts()}


@dataclass(frozen=True, kw_only=True)
class ClassEntry(RegistryEntry):
    """An entry that registers a class; the summary defaults to the class docstring's first line."""

    target: ClassVar[str] = "cls"

    cls: type

    def __post_init__(self) -> None:
        if not self.summary:
            object.__setattr__(self, "summary", first_line(self.cls.__doc__))

    @property
    def doc(self) -> str:
        """The class docstring, dedented."""
        return inspect.cleandoc(self.cls.__doc__ or "")

    def attach(self) -> None:
        self.cls.registry_name = self.name  # type: ignore[attr-defined]


E = TypeVar("E", bound=RegistryEntry)
T = TypeVar("T")


class Registry(Generic[E]):
    """Name -> entry table for one kind of thing (components, task types, optimizers...).

    Args:
        kind: what the entries are, in words (``"component"``, ``"optimizer"``); used in errors.
        entry_type: the :class:`RegistryEntry` subclass of the entries (their facts).
        case_sensitive: False for lower-case vocabularies (task types, optimizers): names and
            aliases then match whatever their case and surrounding blanks.
    """

    def __init__(self, kind: str, entry_type: type[E] = RegistryEntry, *,  # type: ignore[assignment]
                 case_sensitive: bool = True) -> None:
        self.kind = kind
        self.entry_type = entry_type
        self.case_sensitive = case_sensitive
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}

    # -- registering -----------------------------------------------------------------------
    def register(self, name: str, *, aliases: Iterable[str] = (), **facts: Any) -> Callable[[T], T]:
        """Decorator: ``@COMPONENTS.register("FM", params=FMParams, input_kind="fields", examples=[...])``.

        The decorated object fills the entry type's ``target`` field; ``facts`` fill the others.
        """
        target = self.entry_type.target
        if not target:
            raise TypeError(f"{self.entry_type.__name__} has no target field; use Registry.add")

        def decorate(obj: T) -> T:
            self.add(self.entry_type(name=name, aliases=tuple(aliases), **{target: obj}, **facts))
            return obj

        return decorate

    def add(self, entry: E) -> E:
        """Add a built entry; a name or alias already taken is a ConfigError."""
        if not isinstance(entry, self.entry_type):
            raise TypeError(f"{self.kind} registry holds {self.entry_type.__name__}, got {type(entry).__name__}")
        for label in (entry.name, *entry.aliases):
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"{self.kind} {entry.name!r}", "names and aliases must be non-empty strings",
                                  "a name", repr(label))
            if self._key(label) in self._entries or self._key(label) in self._aliases:
                raise ConfigError(f"{self.kind} '{entry.name}'", f"'{label}' is registered twice",
                                  "a name no other entry uses", repr(label))
        self._entries[self._key(entry.name)] = entry
        for alias in entry.aliases:
            self._aliases[self._key(alias)] = self._key(entry.name)
        entry.attach()
        return entry

    @contextmanager
    def scoped(self) -> Iterator["Registry[E]"]:
        """Everything registered inside the ``with`` block is removed when it ends (for tests).

        Example:
            >>> class Tmp:
            ...     pass
            >>> with COMPONENTS.scoped():
            ...     _ = COMPONENTS.add(ComponentSpec(name="Tmp", cls=Tmp, params=Params))
            ...     "Tmp" in COMPONENTS
            True
            >>> "Tmp" in COMPONENTS
            False
        """
        entries, aliases = dict(self._entries), dict(self._aliases)
        try:
            yield self
        finally:
            self._entries, self._aliases = entries, aliases

    # -- looking up ------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return name if self.case_sensitive else name.strip().lower()

    def canonical(self, name: object) -> str | None:
        """The canonical name for ``name`` or one of its aliases; None when unknown."""
        if not isinstance(name, str):
            return None
        key = self._key(name)
        entry = self._entries.get(self._aliases.get(key, key))
        return entry.name if entry is not None else None

    def get(self, name: object, where: str = "") -> E:
        """The entry for ``name`` or an alias; ConfigError naming ``where`` with a suggestion.

        The suggestion prefers a case-insensitive match, then the closest spelling among the
        names and aliases.
        """
        canonical = self.canonical(name)
        if canonical is None:
            if not isinstance(name, str):
                raise ConfigError(where or self.kind, f"a {self.kind} name must be a string",
                                  f"one of {self.names()}", repr(name))
            raise ConfigError(where or name, f"unknown {self.kind}", f"one of {self.names()}", repr(name),
                              choices=self.choices())
        return self._entries[self._key(canonical)]

    def __contains__(self, name: object) -> bool:
        return self.canonical(name) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        return sorted(entry.name for entry in self._entries.values())

    def aliases(self) -> dict[str, str]:
        """Alias -> canonical name, for every alias (sorted by alias)."""
        return {alias: entry.name for entry in self._entries.values() for alias in sorted(entry.aliases)}

    def choices(self) -> list[str]:
        """Every accepted spelling: names and aliases."""
        return [*self.names(), *self.aliases()]

    def entries(self) -> list[E]:
        """All entries, sorted by canonical name."""
        return sorted(self._entries.values(), key=lambda entry: entry.name)

    def describe(self) -> list[dict[str, Any]]:
        """Every entry's :meth:`RegistryEntry.describe`, sorted by name (for the CLI and docs)."""
        return [entry.describe() for entry in self.entries()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


# ----------------------------------------------------------------------------- components


@dataclass(frozen=True)
class InputKind:
    """What a component takes as input, and how a dict of named inputs is merged for it."""

    name: str
    merge: str
    description: str


#: The input kinds a component may declare (``ComponentSpec.input_kind``).
INPUT_KINDS: Mapping[str, InputKind] = {
    kind.name: kind for kind in (
        InputKind("tensor", "concat", "one tensor (B, ..., D); several inputs are concatenated on the last axis"),
        InputKind("fields", "list", "a list of field tensors F x (B, D) (or one (B, F, D) tensor); several "
                  "inputs arrive as a list"),
        InputKind("tensor3d", "concat", "one 3-D tensor (B, F, D) or (B, L, D)"),
        InputKind("sequence", "list", "a sequence input (sequence (B, L, D), lengths (B,) long, target (B, D_q) or "
                  "None), as an input layer with output_seq_and_normal_feature gives it; positions t >= lengths "
                  "are padding and masked; None entries are dropped, so [sequence, lengths, None, target] from two "
                  "inputs reads the same (recblocks.layers.sequence)"),
    )
}


class ComponentExample(NamedTuple):
    """One contract-test case of a component: params as config data and a static input spec."""

    params: dict[str, Any]
    input_spec: Any


def _constraints(info: FieldInfo) -> str:
    """Bounds declared on a field (``>= 0``, ``<= 65536``, ``at most 1000 items``), comma-separated."""
    parts = []
    for meta in info.metadata:
        for attr, text in (("ge", ">= {}"), ("gt", "> {}"), ("le", "<= {}"), ("lt", "< {}"),
                           ("max_length", "at most {} items"), ("min_length", "at least {} items")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(text.format(f"{value:,}" if isinstance(value, int) and value >= 10_000 else value))
    return ", ".join(parts)


def type_text(annotation: Any) -> str:
    """A short readable type: ``list[int]``, ``str | None``, ``'triu_row' | 'tril_row'``.

    Example:
        >>> from typing import Annotated, Literal, Optional
        >>> type_text(Optional[list[Annotated[int, "bound"]]]), type_text(Literal["a", "b"])
        ('list[int] | None', "'a' | 'b'")
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is Annotated:
        return type_text(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join('...' if a is Ellipsis else type_text(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def describe_params(params: type[Params]) -> list[dict[str, Any]]:
    """Every field of a params model: name, type, default (``required`` when none), range, description.

    Example:
        >>> from pydantic import Field
        >>> class P(Params):
        ...     units: int = Field(default=8, ge=1)
        >>> describe_params(P)
        [{'name': 'units', 'type': 'int', 'default': '8', 'range': '>= 1', 'description': ''}]
    """
    rows = []
    for name, info in params.model_fields.items():
        default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
        rows.append({"name": name, "type": type_text(info.annotation),
                     "default": default, "range": _constraints(info), "description": info.description or ""})
    return rows


@dataclass(frozen=True, kw_only=True)
class ComponentSpec(ClassEntry):
    """Every fact about one component, kept on its registration.

    Args:
        cls: the component class (a :class:`~recblocks.layers.base.Component`).
        params: its params model: the defaults and ranges of every parameter.
        input_kind: one of :data:`INPUT_KINDS` (``tensor``, ``fields``, ``tensor3d``,
            ``sequence``); it also says how a dict input is merged (concatenated or a list).
        examples: contract-test cases ``(params, input_spec)``; the registry-wide contract test
            runs every one, and fails for a component without any.
        uses_context: the component reads or writes the per-forward context (extra losses,
            extra outputs, labels, training flag); the backbone then calls it as
            ``module(x, context)``.
        positional: parameters a Python block may take positionally, in order
            (``MLPBlock([64])`` fills ``hidden_units``).
        aliases: other accepted names (EasyRec/Keras spellings).
        refused: an EasyRec name whose job lives elsewhere in recblocks: building it is always
            a ConfigError saying where (the contract test checks that instead).
        export_refused: serving format (``onnx``, ``torchscript``, ``torch-export``) -> why the
            component cannot be written in it; ``recblocks export`` refuses a model holding it
            with this reason, and the contract test checks the refusal instead of parity.
    """

    params: type[Params]
    input_kind: str = "tensor"
    examples: tuple[ComponentExample, ...] = field(default=())
    uses_context: bool = False
    positional: tuple[str, ...] = ()
    refused: bool = False
    export_refused: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"component '{self.name}'"
        if not (isinstance(self.params, type) and issubclass(self.params, Params)):
            raise ConfigError(f"{where}.params", "the params model must be a Params subclass", "a Params class",
                              repr(self.params))
        if self.input_kind not in INPUT_KINDS:
            raise ConfigError(f"{where}.input_kind", "unknown input kind", f"one of {list(INPUT_KINDS)}",
                              repr(self.input_kind), choices=INPUT_KINDS)
        unknown = [p for p in self.positional if p not in self.params.model_fields]
        if unknown:
            raise ConfigError(f"{where}.positional", f"not a parameter of {self.params.__name__}",
                              f"some of {list(self.params.model_fields)}", unknown)
        examples = []
        for index, example in enumerate(self.examples):
            if not (isinstance(example, tuple) and len(example) == 2 and isinstance(example[0], Mapping)):
                raise ConfigError(f"{where}.examples[{index}]", "an example is a pair (params, input_spec)",
                                  "({...}, TensorSpec(...))", repr(example))
            examples.append(ComponentExample(dict(example[0]), example[1]))
        object.__setattr__(self, "examples", tuple(examples))
        object.__setattr__(self, "positional", tuple(self.positional))
        object.__setattr__(self, "export_refused", dict(self.export_refused))

    @property
    def merge(self) -> str:
        """How a dict of named inputs reaches the component: ``"concat"`` or ``"list"``."""
        return INPUT_KINDS[self.input_kind].merge

    def attach(self) -> None:
        super().attach()
        self.cls.params_cls = self.params  # type: ignore[attr-defined]
        self.cls.uses_context = self.uses_context  # type: ignore[attr-defined]

    def facts(self) -> dict[str, Any]:
        return {"input_kind": self.input_kind, "uses_context": self.uses_context, "positional": list(self.positional),
                "params": describe_params(self.params), "examples": len(self.examples),
                **({"refused": "building it is a ConfigError pointing elsewhere"} if self.refused else {}),
                **({"export_refused": dict(self.export_refused)} if self.export_refused else {})}


COMPONENTS: Registry[ComponentSpec] = Registry("component", ComponentSpec)
"""The component library; importing :mod:`recblocks.layers` fills it."""
