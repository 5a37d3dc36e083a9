"""The backbone config: EasyRec's ``BackboneTower`` as typed, validated data (the backbone IR).

A YAML/JSON mapping parses into these objects (:func:`parse_backbone`), and the Python
composition API builds them directly; either way the builder receives the same objects. The
semantics are described in ``docs/backbone.md``. Field names and defaults are EasyRec's.
Accepted spellings beyond the canonical ones: ``keras_layer`` and ``module`` (TorchEasyRec)
for ``component``; inside a component, ``st_params`` or a typed message key (``mlp``,
``senet``...) for ``params``.

What a block's body can be is the :data:`~recblocks.blocks.backbone.kinds.BLOCK_KINDS`
registry: the built-in kinds are fields of :class:`BlockConfig`; a kind registered later is
accepted under its registered key and kept beside the fields.

Every node serialises with :meth:`ConfigNode.to_dict`: canonical spellings, and only what the
config set (no defaults spelled out that it did not have), so ``parse(to_dict(x)) == x``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, create_model, model_serializer, model_validator

from recblocks.blocks.backbone.kinds import BLOCK_KINDS
from recblocks.blocks.backbone.nodes import (
    ComponentConfig,
    ConfigNode,
    EmbeddingLayerConfig,
    LambdaConfig,
    RawInputConfig,
    RecurrentConfig,
    RepeatConfig,
    normalise_component_key,
)
from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path, parse_params
from recblocks.core.registry import RegistryEntry
from recblocks.layers.input_layer import InputLayerConfig
from recblocks.layers.mlp import MLPParams

__all__ = [
    "ConfigNode",
    "ComponentConfig",
    "LambdaConfig",
    "RecurrentConfig",
    "RepeatConfig",
    "RawInputConfig",
    "EmbeddingLayerConfig",
    "LayerConfig",
    "BlockInputConfig",
    "BlockConfig",
    "PackageConfig",
    "BackboneConfig",
    "parse_backbone",
    "bind_backbone",
]


@lru_cache(maxsize=64)
def _registered_bodies_model(kinds: tuple[tuple[str, type], ...]) -> type[ConfigNode]:
    """A model with one optional field per registered key (errors then carry the key's path)."""
    fields: dict[str, Any] = {key: (params | None, None) for key, params in kinds}
    return create_model("RegisteredBodies", __base__=ConfigNode, **fields)


class _BodyHolder(ConfigNode):
    """What holds a body (a block, or one element of ``layers``); dispatched through BLOCK_KINDS."""

    #: Whether kinds registered later (no field of their own) must declare ``in_layers``.
    layer_element: ClassVar[bool] = False
    _more_bodies: dict[str, ConfigNode] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return normalise_component_key(data)

    @model_validator(mode="wrap")
    @classmethod
    def _registered_bodies(cls, data: Any, handler: Any) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        more = {k: v for k, v in data.items() if k not in known and k in BLOCK_KINDS
                and BLOCK_KINDS.get(k).cls.attribute is None and cls.accepts(BLOCK_KINDS.get(k))}
        if not more:
            return handler(data)
        node = handler({k: v for k, v in data.items() if k not in more})
        entries = {k: BLOCK_KINDS.get(k) for k in more}
        model = _registered_bodies_model(tuple((k, e.params) for k, e in entries.items()))
        parsed = model.model_validate(more)
        node._more_bodies = {entries[k].name: getattr(parsed, k) for k in more}
        return node

    @model_serializer(mode="wrap")
    def _dump_bodies(self, handler: Any, info: Any) -> Any:
        data = handler(self)
        for key, body in self._more_bodies.items():
            data[key] = body.model_dump(mode=info.mode, by_alias=info.by_alias, exclude_unset=info.exclude_unset,
                                        exclude_defaults=info.exclude_defaults, exclude_none=info.exclude_none)
        return data

    def _compared(self) -> tuple[Any, ...]:
        return (self.__dict__, self._more_bodies)

    @classmethod
    def accepts(cls, entry: RegistryEntry) -> bool:
        """Whether this config can hold a body of the registered kind ``entry``."""
        attribute = entry.cls.attribute
        if attribute is not None:
            return attribute in cls.model_fields
        return entry.cls.in_layers or not cls.layer_element

    def body_entries(self) -> list[tuple[RegistryEntry, Any]]:
        """``(kind, its config)`` for every body that is set (one, in a valid config)."""
        found = []
        for entry in BLOCK_KINDS.entries():
            if not self.accepts(entry):
                continue
            attribute = entry.cls.attribute
            value = getattr(self, attribute) if attribute is not None else self._more_bodies.get(entry.name)
            if entry.cls.is_set(value):
                found.append((entry, value))
        return found

    def bodies(self) -> list[str]:
        """Registered names of the bodies that are set."""
        return [entry.name for entry, _ in self.body_entries()]

    def set_body(self, kind: str, config: Any) -> None:
        """Set the body of ``kind`` (a registered name) to ``config`` (the Python API's way in)."""
        entry = BLOCK_KINDS.get(kind, f"{type(self).__name__}.set_body")
        if not self.accepts(entry):
            raise ConfigError(f"{type(self).__name__}.set_body", f"a '{entry.name}' body cannot be set here",
                              "a kind this config holds", repr(kind))
        if entry.cls.attribute is not None:
            setattr(self, entry.cls.attribute, config)
        else:
            self._more_bodies[entry.name] = config


class LayerConfig(_BodyHolder):
    """One element of a sequential ``layers`` list: exactly one body."""

    layer_element: ClassVar[bool] = True

    lambda_: LambdaConfig | None = Field(default=None, alias="lambda")
    component: ComponentConfig | None = None
    recurrent: RecurrentConfig | None = None
    repeat: RepeatConfig | None = None


class BlockInputConfig(ConfigNode):
    """One input edge: a feature group, a block or a package, with optional slice/fn."""

    feature_group_name: str | None = None
    block_name: str | None = None
    package_name: str | None = None
    use_package_input: bool | None = None
    input_fn: str | None = None
    input_slice: str | None = None
    ignore_input: bool = False
    reset_input: InputLayerConfig | None = None
    package_input: str | None = None
    package_input_fn: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "BlockInputConfig":
        names = [k for k in ("feature_group_name", "block_name", "package_name", "use_package_input")
                 if getattr(self, k) not in (None, False)]
        if self.use_package_input is False:
            raise ValueError("use_package_input can only be true")
        if len(names) != 1:
            raise ValueError(
                "set exactly one of feature_group_name, block_name, package_name, use_package_input"
                + (f" (got {names})" if names else "")
            )
        if (self.reset_input is not None or self.package_input is not None) and self.package_name is None:
            raise ValueError("reset_input and package_input need package_name")
        return self

    @property
    def source(self) -> str:
        """The referenced name (``""`` for the package input)."""
        return self.feature_group_name or self.block_name or self.package_name or ""


class BlockConfig(_BodyHolder):
    """A named node of the DAG: inputs, merge options and at most one body.

    ``origin`` says where a block built by the Python API came from (e.g.
    ``MLPBlock([64], name='deep')``); it is not part of the config (not serialised, not
    compared) and :meth:`where` appends it to the place errors name.
    """

    name: str = Field(min_length=1)
    inputs: list[BlockInputConfig] = Field(default_factory=list)
    input_concat_axis: int = -1
    merge_inputs_into_list: bool = False
    extra_input_fn: str | None = None
    layers: list[LayerConfig] = Field(default_factory=list)
    input_layer: InputLayerConfig | None = None
    lambda_: LambdaConfig | None = Field(default=None, alias="lambda")
    component: ComponentConfig | None = None
    recurrent: RecurrentConfig | None = None
    repeat: RepeatConfig | None = None
    raw_input: RawInputConfig | None = None
    embedding_layer: EmbeddingLayerConfig | None = None
    _origin: str | None = PrivateAttr(default=None)

    @property
    def origin(self) -> str | None:
        """The Python block this block was built from, or None (written in a config)."""
        return self._origin

    @origin.setter
    def origin(self, value: str | None) -> None:
        self._origin = value

    def where(self, path: str) -> str:
        """How errors name this block: ``block 'deep' (model.backbone.blocks[2]) from MLPBlock(...)``."""
        text = f"block '{self.name}' ({path})"
        return f"{text} from {self._origin}" if self._origin else text

    @property
    def is_input_block(self) -> bool:
        """Whether the body reads a feature group itself (``input_layer`` and the like)."""
        return any(entry.cls.reads_group for entry, _ in self.body_entries())


def _listify_outputs(data: Any) -> Any:
    """EasyRec text configs allow ``concat_blocks: 'x'``; accept a single string."""
    if isinstance(data, dict):
        data = dict(data)
        for key in ("concat_blocks", "output_blocks"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
    return data


class PackageConfig(ConfigNode):
    """A sub-DAG whose every call shares parameters (EasyRec ``BlockPackage``)."""

    name: str = Field(min_length=1)
    blocks: list[BlockConfig] = Field(default_factory=list)
    concat_blocks: list[str] = Field(default_factory=list)
    output_blocks: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        return _listify_outputs(data)


class BackboneConfig(ConfigNode):
    """The whole backbone: packages, blocks, output selection and an optional ``top_mlp``."""

    packages: list[PackageConfig] = Field(default_factory=list)
    blocks: list[BlockConfig] = Field(default_factory=list)
    concat_blocks: list[str] = Field(default_factory=list)
    output_blocks: list[str] = Field(default_factory=list)
    top_mlp: MLPParams | None = None

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        return _listify_outputs(data)

    def all_blocks(self) -> Iterator[tuple[tuple[Any, ...], BlockConfig]]:
        """``(path parts, block)`` for the main blocks, then each package's blocks."""
        for i, block in enumerate(self.blocks):
            yield ("blocks", i), block
        for p, package in enumerate(self.packages):
            for i, block in enumerate(package.blocks):
                yield ("packages", p, "blocks", i), block


def bind_backbone(config: BackboneConfig, where: str = "model.backbone") -> BackboneConfig:
    """Bind every component of ``config`` once (registry lookup + params validation).

    Components are found through the kinds' registrations; errors name the dotted path,
    e.g. ``model.backbone.blocks[2].component.params.hiden_units``. Bound components are kept.
    """
    for parts, block in config.all_blocks():
        for entry, body in block.body_entries():
            for rel, component in entry.cls.components(body):
                component.bind(join_path(where, *parts, entry.name, *rel))
    return config


def parse_backbone(data: Any, where: str = "model.backbone") -> BackboneConfig:
    """Validate and bind a backbone mapping; errors name the dotted path of the bad entry."""
    if isinstance(data, BackboneConfig):
        return bind_backbone(data, where)
    if not isinstance(data, Mapping):
        raise ConfigError(where, "the backbone must be a mapping", "a mapping with 'blocks'", type(data).__name__)
    return bind_backbone(parse_params(BackboneConfig, data, where), where)
