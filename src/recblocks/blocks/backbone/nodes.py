"""Leaf nodes of the backbone IR: the serialiser base, components and the body configs.

:class:`ConfigNode` is the base of every IR node (one serialiser, equality on the config's
fields only). :class:`ComponentConfig` keeps ``class_name`` and ``params`` as written and is
bound once to its registration (typed params). The other classes are the configs of the
built-in body kinds; :mod:`recblocks.blocks.backbone.config` assembles them into blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_BODY_REPEATS, MAX_EMBEDDING_DIM
from recblocks.core.params import Params, join_path, parse_params
from recblocks.core.registry import COMPONENTS, RegistryEntry

__all__ = [
    "ConfigNode",
    "ComponentConfig",
    "LambdaConfig",
    "RecurrentConfig",
    "RepeatConfig",
    "RawInputConfig",
    "EmbeddingLayerConfig",
    "normalise_component_key",
]

_COMPONENT_KEYS = ("component", "keras_layer", "module")


class ConfigNode(Params):
    """Base of the IR nodes: one serialiser, and equality on the config's fields only.

    Derived facts kept beside the fields (a component's validated params, a block's origin)
    do not take part in equality: a parsed config equals the one it was written from.
    """

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-serialisable): canonical keys, only the fields that were set."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)

    def _compared(self) -> tuple[Any, ...]:
        return (self.__dict__,)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._compared() == other._compared()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


def normalise_component_key(data: Any) -> Any:
    """Rename ``keras_layer``/``module`` to ``component``; two spellings at once is an error."""
    if not isinstance(data, dict):
        return data
    present = [k for k in _COMPONENT_KEYS if k in data]
    if len(present) > 1:
        raise ValueError(f"both {present[0]!r} and {present[1]!r} are set; they are the same field")
    if present and present[0] != "component":
        data = dict(data)
        data["component"] = data.pop(present[0])
    return data


def _struct_defaults(class_name: Any) -> dict[str, Any]:
    """Defaults EasyRec uses when a component's params come as ``st_params`` (a Struct), where they
    differ from its typed message's (e.g. MLP: no ``final_activation``); from the registered class."""
    if class_name not in COMPONENTS:
        return {}  # an unknown name is reported when the config is bound
    return dict(getattr(COMPONENTS.get(class_name).cls, "struct_param_defaults", {}))


class ComponentConfig(ConfigNode):
    """A registered component: ``class_name`` plus its parameters (kept as written).

    Binding (:meth:`bind`, done once by :func:`parse_backbone`) looks the name up in the
    registry and validates ``params`` with the component's params model; the typed result is
    :attr:`typed_params`, so the builder never parses params again.
    """

    class_name: str
    params: dict[str, Any] = Field(default_factory=dict)
    _typed: Params | None = PrivateAttr(default=None)
    _entry: RegistryEntry | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _easyrec_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        extra = [k for k in data if k not in ("class_name", "params")]
        if len(extra) > 1:
            raise ValueError(f"a component takes one parameter section, got {extra}")
        if extra:
            if "params" in data:
                raise ValueError(f"both 'params' and {extra[0]!r} are set")
            data = dict(data)
            data["params"] = data.pop(extra[0])
            if extra[0] == "st_params" and isinstance(data["params"], Mapping):
                data["params"] = {**_struct_defaults(data.get("class_name")), **data["params"]}
        if "params" in data and data["params"] is None:
            data = {**data, "params": {}}
        return data

    @classmethod
    def create(cls, class_name: str, params: Params | Mapping[str, Any] | None, where: str) -> "ComponentConfig":
        """A bound config from Python: the canonical name and the params without their defaults."""
        entry = COMPONENTS.get(class_name, join_path(where, "class_name"))
        typed = params if isinstance(params, entry.params) else parse_params(entry.params, params,
                                                                                join_path(where, "params"))
        data = typed.to_dict()
        config = cls(class_name=entry.name, **({"params": data} if data else {}))
        config._typed, config._entry = typed, entry
        return config

    def bind(self, path: str) -> "ComponentConfig":
        """Validate against the registry once (errors name ``path``); a bound config is kept as is."""
        if self._typed is None:
            entry = COMPONENTS.get(self.class_name, join_path(path, "class_name"))
            self._typed = parse_params(entry.params, self.params, join_path(path, "params"))
            self._entry = entry
        return self

    @property
    def is_bound(self) -> bool:
        return self._typed is not None

    @property
    def typed_params(self) -> Params:
        """The validated params (an instance of the component's params model)."""
        if self._typed is None:
            raise ConfigError(f"component {self.class_name!r}", "the component config is not bound",
                              "a config from parse_model_config/parse_backbone", "an unbound ComponentConfig")
        return self._typed

    @property
    def entry(self) -> RegistryEntry:
        """The registry entry (class, params model, aliases) of a bound config."""
        if self._entry is None:
            self.typed_params  # noqa: B018 - raises the "not bound" error
        return self._entry  # type: ignore[return-value]


class LambdaConfig(ConfigNode):
    """A lambda body: ``expression`` is a safe lambda over the merged input."""

    expression: str


class RecurrentConfig(ConfigNode):
    """``num_steps`` separate instances applied in a chain; ``fixed_input_index`` stays constant."""

    num_steps: int = Field(default=1, ge=1, le=MAX_BODY_REPEATS,
                           description=f"chained instances, at most {MAX_BODY_REPEATS:,}")
    fixed_input_index: int | None = None
    component: ComponentConfig

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return normalise_component_key(data)


class RepeatConfig(ConfigNode):
    """``num_repeat`` separate instances on the same input (multi-head)."""

    num_repeat: int = Field(default=1, ge=1, le=MAX_BODY_REPEATS,
                            description=f"parallel instances, at most {MAX_BODY_REPEATS:,}")
    output_concat_axis: int | None = None
    input_slice: str | None = None
    input_fn: str | None = None
    component: ComponentConfig

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return normalise_component_key(data)


class RawInputConfig(ConfigNode):
    """EasyRec ``RawInputLayer``: the group's ids and values as the preprocessor emits them (no embedding)."""


class EmbeddingLayerConfig(ConfigNode):
    """EasyRec ``EmbeddingLayer``: one shared lookup over the whole group (``vocab_size`` is computed)."""

    embedding_dim: int = Field(gt=0, le=MAX_EMBEDDING_DIM)
    vocab_size: int | None = Field(default=None, gt=0)
    combiner: str = "weight"
    concat: bool = True


