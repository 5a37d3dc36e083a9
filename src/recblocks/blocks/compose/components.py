"""Component blocks: any registered component as a block, plus named conveniences.

``ComponentBlock(class_name, **params)`` works for every component in the registry; its
params are validated immediately by the component's params class, so a misspelt key fails
where the block is written. A dict input is concatenated on the last axis (sorted keys)
unless the component takes a list of fields (``DotInteraction``, ``FM``, ``Add``,
``Concatenate``...), which receives the entries as a list; ``merge=`` overrides this.
"""

from __future__ import annotations

from typing import Any

from recblocks.blocks.backbone.config import ComponentConfig, RecurrentConfig
from recblocks.blocks.compose.base import Block, snake_case
from recblocks.blocks.compose.compile import CompileContext, Value
from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.core.registry import COMPONENTS
from recblocks.layers.activations import check_activation

__all__ = [
    "LIST_INPUT_COMPONENTS", "ComponentBlock", "MLPBlock", "DenseBlock", "DotInteractionBlock", "FMBlock",
    "CrossBlock", "CrossNetBlock", "DropoutBlock", "ActivationBlock", "BatchNormalizationBlock",
    "LayerNormalizationBlock", "FlattenBlock", "AddBlock", "ConcatFeatures", "check_merge",
]

#: Components whose input is a list of fields: a dict input reaches them as a list.
LIST_INPUT_COMPONENTS = frozenset({
    "DotInteraction", "FM", "Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract",
    "Dot", "CIN", "SENet", "Bilinear", "BiLinear", "FiBiNet",
})
_MERGES = ("concat", "list")


def check_merge(merge: str | None, where: str) -> None:
    if merge is not None and merge not in _MERGES:
        raise ConfigError(f"{where}.merge", "unknown merge", f"one of {list(_MERGES)}", repr(merge), choices=_MERGES)


class ComponentBlock(Block):
    """One registered component (``class_name``) with its params, as one backbone block.

    Args:
        class_name: a registered name or alias (unknown names suggest the nearest one).
        params: the component's params (a mapping), merged with ``**kwargs``.
        merge: how a dict input is merged: ``'concat'`` or ``'list'`` (default by component).
        name: the backbone block name (default: the branch key, else the snake-cased class).

    Shape:
        - Input: the component's input (a dict is merged as described above).
        - Output: the component's ``output_spec``.

    Example:
        >>> ComponentBlock("MLP", hidden_units=[8]).to_config()
        {'class_name': 'MLP', 'params': {'hidden_units': [8]}}
    """

    def __init__(self, class_name: str, params: dict[str, Any] | None = None, *, merge: str | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name)
        where = f"{type(self).__name__}({class_name!r})"
        entry = COMPONENTS.get(class_name, f"{where}.class_name")
        if params is not None and not isinstance(params, dict):
            raise ConfigError(f"{where}.params", "params must be a mapping", "a dict", type(params).__name__)
        clash = sorted(set(params or {}) & set(kwargs))
        if clash:
            raise ConfigError(f"{where}.params", "a parameter is given twice", "each once", clash)
        self.class_name = entry.name
        self.typed_params = parse_params(entry.params, {**(params or {}), **kwargs}, f"{where}.params")
        self.params: dict[str, Any] = self.typed_params.to_dict()
        check_merge(merge, where)
        self.merge = merge or ("list" if entry.name in LIST_INPUT_COMPONENTS else "concat")
        self.default_name = snake_case(entry.name)  # type: ignore[misc]

    # ------------------------------------------------------------------ what it compiles to
    def component_config(self) -> ComponentConfig:
        """The typed, bound component config (params without defaults)."""
        return ComponentConfig.create(self.class_name, self.typed_params, self.where())

    def to_config(self) -> dict[str, Any]:
        """``{"class_name": ..., "params": {...}}`` (params without defaults)."""
        return self.component_config().to_dict()

    def _args(self) -> str:
        parts = [repr(self.class_name)] if type(self) is ComponentBlock else []
        return ", ".join(parts + [f"{k}={v!r}" for k, v in self.params.items()])

    def body(self) -> dict[str, Any]:
        """The block body: registered body kind -> its typed config."""
        return {"component": self.component_config()}

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        edges, into_list = ctx.inputs(value, self.merge, self.where())
        return ctx.add_block(self.name or hint or self.default_name, self.body(), edges, into_list,
                             origin=self.where())


class MLPBlock(ComponentBlock):
    """Fully connected layers with Merlin's defaults (``MLP`` component).

    Every layer, the last one included, applies ``activation`` unless
    ``no_activation_last_layer``; biases on, no batch norm, Glorot-uniform kernels (Merlin),
    unlike the ``MLP`` component's EasyRec defaults (BN, no bias, He-uniform).

    Args:
        hidden_units: layer widths ``H_1..H_n``.
        activation: activation of every layer.
        use_bias: biases in every layer.
        dropout: dropout after every layer but the last.
        normalization: None or ``'batch_norm'`` (every layer).
        no_activation_last_layer: linear last layer (e.g. logits).
        initializer: kernel initializer.
        **params: any other ``MLP`` parameter (overrides the above).

    Shape:
        - Input: ``(B, ..., D)`` (a dict is concatenated).
        - Output: ``(B, ..., H_n)``.
    """

    def __init__(self, hidden_units: list[int], activation: str | None = "relu", *, use_bias: bool = True,
                 dropout: float = 0.0, normalization: str | None = None, no_activation_last_layer: bool = False,
                 initializer: str = "glorot_uniform", name: str | None = None, **params: Any) -> None:
        if normalization not in (None, "batch_norm"):
            raise ConfigError("MLPBlock.normalization", "unknown normalization", "None or 'batch_norm'",
                              repr(normalization))
        bn = normalization == "batch_norm"
        base = {"hidden_units": hidden_units, "activation": activation, "use_bias": use_bias,
                "use_final_bias": use_bias, "use_bn": bn, "use_final_bn": bn, "dropout": dropout,
                "final_activation": None if no_activation_last_layer else activation, "initializer": initializer}
        super().__init__("MLP", {**base, **params}, name=name)
        check_activation(activation, "MLPBlock.activation")
        self.default_name = "mlp"
        given = {"activation": (activation, "relu"), "use_bias": (use_bias, True), "dropout": (dropout, 0.0),
                 "normalization": (normalization, None), "initializer": (initializer, "glorot_uniform"),
                 "no_activation_last_layer": (no_activation_last_layer, False)}
        self._shown = [repr(list(hidden_units))] + [f"{k}={v!r}" for k, (v, d) in given.items() if v != d]
        self._shown += [f"{k}={v!r}" for k, v in params.items()]

    def _args(self) -> str:
        return ", ".join(self._shown)


class DenseBlock(ComponentBlock):
    """``y = act(x W + b)`` (Keras ``Dense``).

    Shape:
        - Input: ``(B, ..., D)`` (a dict is concatenated).
        - Output: ``(B, ..., units)``.
    """

    def __init__(self, units: int, activation: str | None = None, *, name: str | None = None,
                 **params: Any) -> None:
        super().__init__("Dense", {"units": units, "activation": activation, **params}, name=name)


class DotInteractionBlock(ComponentBlock):
    """Pairwise dot products of the fields (DLRM); a dict input is the field list (sorted keys).

    Shape:
        - Input: ``{key: (B, D)}`` with ``F`` entries, or ``F x (B, D)`` / ``(B, F, D)``.
        - Output: ``(B, F(F-1)/2)`` (see the ``DotInteraction`` component).
    """

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        super().__init__("DotInteraction", params, name=name)


class FMBlock(ComponentBlock):
    """Second-order FM term over the fields (a dict input is the field list, sorted keys).

    Shape:
        - Input: ``{key: (B, D)}``, ``F x (B, D)`` or ``(B, F, D)``.
        - Output: ``(B, 1)`` (see the ``FM`` component).
    """

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        super().__init__("FM", params, name=name)


class CrossNetBlock(ComponentBlock):
    """DCN-v1 cross network (``CrossNet``).

    Shape:
        - Input: ``(B, D)`` (a dict is concatenated).
        - Output: ``(B, D)``.
    """

    def __init__(self, num_layers: int = 3, *, name: str | None = None, **params: Any) -> None:
        super().__init__("CrossNet", {"num_layers": num_layers, **params}, name=name)


class CrossBlock(ComponentBlock):
    """``depth`` DCN-v2 cross layers with separate kernels: ``x_{l+1} = x0 * (W x_l + b) + x_l``.

    ``depth=1`` is one ``Cross`` component; more compile to a ``recurrent`` body with
    ``fixed_input_index: 0`` over ``extra_input_fn: 'lambda x: [x, x]'`` (EasyRec's DCN-v2).

    Shape:
        - Input: ``(B, D)`` (a dict is concatenated).
        - Output: ``(B, D)``.
    """

    def __init__(self, depth: int = 1, *, name: str | None = None, **params: Any) -> None:
        if not isinstance(depth, int) or depth < 1:
            raise ConfigError("CrossBlock.depth", "depth must be a positive int", ">= 1", depth)
        super().__init__("Cross", params, name=name)
        self.depth = depth

    def body(self) -> dict[str, Any]:
        if self.depth == 1:
            return super().body()
        recurrent = parse_params(RecurrentConfig, {"num_steps": self.depth, "fixed_input_index": 0,
                                                   "component": self.component_config()}, f"{self.where()}.depth")
        return {"extra_input_fn": "lambda x: [x, x]", "recurrent": recurrent}


class DropoutBlock(ComponentBlock):
    """Dropout with ``rate`` (training only).

    Shape:
        - Input: ``(B, ...)``.
        - Output: the same shape.
    """

    def __init__(self, rate: float, *, name: str | None = None) -> None:
        super().__init__("Dropout", {"rate": rate}, name=name)


class ActivationBlock(ComponentBlock):
    """A named activation, element-wise.

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: the same shape.
    """

    def __init__(self, activation: str, *, name: str | None = None) -> None:
        super().__init__("Activation", {"activation": activation}, name=name)


class BatchNormalizationBlock(ComponentBlock):
    """Batch normalization over the last axis (Keras parameters).

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: the same shape.
    """

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        super().__init__("BatchNormalization", params, name=name)


class LayerNormalizationBlock(ComponentBlock):
    """Layer normalization over the last axis (Keras parameters).

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: the same shape.
    """

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        super().__init__("LayerNormalization", params, name=name)


class FlattenBlock(ComponentBlock):
    """Flatten all axes but the batch axis.

    Shape:
        - Input: ``(B, ...)``.
        - Output: ``(B, prod(...))``.
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__("Flatten", name=name)


class AddBlock(ComponentBlock):
    """Element-wise sum of the entries (a dict input is passed as a list).

    Shape:
        - Input: ``{key: (B, ...)}`` or a list, broadcast-compatible shapes.
        - Output: ``(B, ...)``.
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__("Add", name=name)


class ConcatFeatures(ComponentBlock):
    """Concatenate a dict's entries in sorted key order (Merlin ``ConcatFeatures``).

    Shape:
        - Input: ``{key: (B, ..., D_k)}`` (``axis`` counts the batch axis).
        - Output: ``(B, ..., sum D_k)``.
    """

    def __init__(self, axis: int = -1, *, name: str | None = None) -> None:
        super().__init__("Concatenate", {"axis": axis}, merge="list", name=name)
        self.default_name = "concat"
