"""The backbone config: EasyRec's ``BackboneTower`` as typed, validated data.

Field names and defaults are EasyRec's (see docs/easyrec.md). Accepted spellings beyond the
canonical ones: ``keras_layer`` and ``module`` (TorchEasyRec) for ``component``; inside a
component, ``st_params`` or a typed message key (``mlp``, ``senet``, ...) for ``params``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_BODY_REPEATS
from recblocks.core.params import Params, parse_params
from recblocks.layers.input_layer import InputLayerConfig

__all__ = [
    "ComponentConfig",
    "LambdaConfig",
    "RecurrentConfig",
    "RepeatConfig",
    "LayerConfig",
    "BlockInputConfig",
    "BlockConfig",
    "PackageConfig",
    "BackboneConfig",
    "parse_backbone",
]

_COMPONENT_KEYS = ("component", "keras_layer", "module")


def _normalise_component_key(data: Any, where: str) -> Any:
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


class ComponentConfig(Params):
    """A registered component: ``class_name`` plus its parameters."""

    class_name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _easyrec_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        extra = [k for k in data if k not in ("class_name", "params")]
        if len(extra) > 1:
            raise ValueError(f"a component takes one parameter section, got {extra}")
        if extra:
            if "params" in data:
                raise ValueError(f"both 'params' and {extra[0]!r} are set")
            section = data.pop(extra[0])
            data["params"] = section if section is not None else {}
        if data.get("params") is None:
            data["params"] = {}
        return data


class LambdaConfig(Params):
    """A lambda body: ``expression`` is a safe lambda over the merged input."""

    expression: str


class RecurrentConfig(Params):
    """``num_steps`` separate instances applied in a chain; ``fixed_input_index`` stays constant."""

    num_steps: int = Field(default=1, ge=1, le=MAX_BODY_REPEATS,
                           description=f"chained instances, at most {MAX_BODY_REPEATS:,}")
    fixed_input_index: int | None = None
    component: ComponentConfig

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return _normalise_component_key(data, "recurrent")


class RepeatConfig(Params):
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
        return _normalise_component_key(data, "repeat")


_BODY_KEYS = ("input_layer", "lambda_", "component", "recurrent", "repeat", "raw_input", "embedding_layer")


class LayerConfig(Params):
    """One element of a sequential ``layers`` list: exactly one body."""

    lambda_: LambdaConfig | None = Field(default=None, alias="lambda")
    component: ComponentConfig | None = None
    recurrent: RecurrentConfig | None = None
    repeat: RepeatConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return _normalise_component_key(data, "layer")

    def bodies(self) -> list[str]:
        return [k for k in ("lambda_", "component", "recurrent", "repeat") if getattr(self, k) is not None]


class BlockInputConfig(Params):
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


class BlockConfig(Params):
    """A named node of the DAG: inputs, merge options and at most one body."""

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
    raw_input: dict[str, Any] | None = None
    embedding_layer: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return _normalise_component_key(data, "block")

    def bodies(self) -> list[str]:
        found = [k.rstrip("_") for k in _BODY_KEYS if getattr(self, k) is not None]
        if self.layers:
            found.append("layers")
        return found

    @property
    def is_input_block(self) -> bool:
        return self.input_layer is not None or self.raw_input is not None or self.embedding_layer is not None


class PackageConfig(Params):
    """A sub-DAG whose every call shares parameters (EasyRec ``BlockPackage``)."""

    name: str = Field(min_length=1)
    blocks: list[BlockConfig] = Field(default_factory=list)
    concat_blocks: list[str] = Field(default_factory=list)
    output_blocks: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        return _listify_outputs(data)


class BackboneConfig(Params):
    """The whole backbone: packages, blocks, output selection and an optional ``top_mlp``."""

    packages: list[PackageConfig] = Field(default_factory=list)
    blocks: list[BlockConfig] = Field(default_factory=list)
    concat_blocks: list[str] = Field(default_factory=list)
    output_blocks: list[str] = Field(default_factory=list)
    top_mlp: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        return _listify_outputs(data)


def _listify_outputs(data: Any) -> Any:
    """EasyRec text configs allow ``concat_blocks: 'x'``; accept a single string."""
    if isinstance(data, dict):
        data = dict(data)
        for key in ("concat_blocks", "output_blocks"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
    return data


def parse_backbone(data: Any, where: str = "model.backbone") -> BackboneConfig:
    """Validate a backbone mapping; errors name the dotted path of the bad entry."""
    if isinstance(data, BackboneConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError(where, "the backbone must be a mapping", "a mapping with 'blocks'", type(data).__name__)
    return parse_params(BackboneConfig, data, where)
