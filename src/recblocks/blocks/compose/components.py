"""Component blocks: every registered component as a Python block, from its registration alone.

``ComponentBlock(class_name, **params)`` builds any component in the registry; its params are
validated immediately by the component's params model, so a misspelt key fails where the block
is written. ``<Name>Block`` (``MLPBlock``, ``FMBlock``, ``DotInteractionBlock``...) is made from
the registration by :func:`component_block`: the same block bound to one component, with the
component's *own* defaults, whose positional arguments fill the parameters the registration
declares ``positional`` (``MLPBlock([64])`` is ``{class_name: MLP, params: {hidden_units: [64]}}``).
No table here names a component.

A dict input is merged by the component's ``input_kind``: concatenated on the last axis for a
``tensor`` component, passed as a list (sorted keys) for a ``fields`` one (``FM``,
``DotInteraction``, ``Add``, ``Concatenate``...); ``merge=`` overrides this.

Hand-written blocks remain only where they add behaviour: :class:`CrossBlock` (``depth``
stacked cross layers as a ``recurrent`` body) and :class:`ConcatFeatures` (Merlin's name for
``Concatenate``, output named ``concat``).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar

from recblocks.blocks.backbone.config import ComponentConfig, RecurrentConfig
from recblocks.blocks.compose.base import Block, snake_case
from recblocks.blocks.compose.compile import CompileContext, Value
from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.core.registry import COMPONENTS, INPUT_KINDS, ComponentSpec
import recblocks.layers  # noqa: F401  (registers the component library)

__all__ = [
    "BoundComponentBlock", "ComponentBlock", "ConcatFeatures", "CrossBlock", "check_merge", "component_block",
    "component_block_names",
]

_MERGES = ("concat", "list")
_SUFFIX = "Block"


def check_merge(merge: str | None, where: str) -> None:
    if merge is not None and merge not in _MERGES:
        raise ConfigError(f"{where}.merge", "unknown merge", f"one of {list(_MERGES)}", repr(merge), choices=_MERGES)


class ComponentBlock(Block):
    """One registered component (``class_name``) with its params, as one backbone block.

    Args:
        class_name: a registered name or alias (unknown names suggest the nearest one).
        params: the component's params (a mapping), merged with ``**kwargs``.
        merge: how a dict input is merged: ``'concat'`` or ``'list'`` (default: from the
            component's ``input_kind``).
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
        where = self._where(class_name)
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
        self.merge = merge or entry.merge
        self.default_name = snake_case(entry.name)  # type: ignore[misc]

    # ------------------------------------------------------------------ what it compiles to
    def component_config(self) -> ComponentConfig:
        """The typed, bound component config (params without defaults)."""
        return ComponentConfig.create(self.class_name, self.typed_params, self.where())

    def _where(self, class_name: str) -> str:
        return f"{type(self).__name__}({class_name!r})"

    def to_config(self) -> dict[str, Any]:
        """``{"class_name": ..., "params": {...}}`` (params without defaults)."""
        return self.component_config().to_dict()

    def _args(self) -> str:
        return ", ".join([repr(self.class_name)] + [f"{k}={v!r}" for k, v in self.params.items()])

    def body(self) -> dict[str, Any]:
        """The block body: registered body kind -> its typed config."""
        return {"component": self.component_config()}

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        edges, into_list = ctx.inputs(value, self.merge, self.where())
        return ctx.add_block(self.name or hint or self.default_name, self.body(), edges, into_list,
                             origin=self.where())


class BoundComponentBlock(ComponentBlock):
    """A :class:`ComponentBlock` bound to one registered component (the base of ``<Name>Block``).

    Positional arguments fill the component's declared positional parameters in order; every
    other parameter is a keyword. ``params=`` (a mapping) is accepted too.

    Shape:
        - Input: the component's input (see its ``input_kind``).
        - Output: the component's ``output_spec``.
    """

    #: The registered component name this class builds.
    component: ClassVar[str] = ""

    def __init__(self, *args: Any, merge: str | None = None, name: str | None = None,
                 params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        entry = COMPONENTS.get(self.component, f"{type(self).__name__}.component")
        where = type(self).__name__
        if len(args) > len(entry.positional):
            allowed = ", ".join(entry.positional) or "none"
            raise ConfigError(where, "too many positional arguments",
                              f"at most {len(entry.positional)} ({allowed}); pass the others by name", len(args))
        given = dict(zip(entry.positional, args))
        clash = sorted(set(given) & (set(kwargs) | set(params or {})))
        if clash:
            raise ConfigError(f"{where}.params", "a parameter is given twice", "each once", clash)
        super().__init__(entry.name, {**(params or {}), **given}, merge=merge, name=name, **kwargs)
        self._shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in {**(params or {}), **kwargs}.items()]
        if merge is not None:
            self._shown.append(f"merge={merge!r}")

    def _where(self, class_name: str) -> str:
        return type(self).__name__

    def _args(self) -> str:
        return ", ".join(self._shown)


_SHAPE = re.compile(r"^Shape:\s*\n((?:[ \t]+.*\n?|\s*\n)+)", re.MULTILINE)


def _shape_section(entry: ComponentSpec) -> str:
    """The component's own ``Shape:`` section, else one built from its input kind."""
    match = _SHAPE.search(entry.doc + "\n")
    if match:
        return "Shape:\n" + "\n".join(line for line in match.group(1).rstrip().splitlines())
    return (f"Shape:\n    - Input: {INPUT_KINDS[entry.input_kind].description}.\n"
            f"    - Output: the ``{entry.name}`` component's output.")


def _docstring(entry: ComponentSpec) -> str:
    positional = ", ".join(f"``{p}``" for p in entry.positional)
    call = f"{entry.name}{_SUFFIX}({', '.join(entry.positional)})" if positional else f"{entry.name}{_SUFFIX}()"
    return "\n\n".join([
        f"The ``{entry.name}`` component as a block: {entry.summary}",
        f"``{call}`` builds ``{{class_name: {entry.name}, params: {{...}}}}`` with the component's own defaults"
        + (f"; positional arguments fill {positional}" if positional else "")
        + "; keywords are its parameters (``recblocks components`` lists them), ``merge=`` and ``name=``. "
        f"A dict input is {'passed as a list' if entry.merge == 'list' else 'concatenated'} "
        f"(input kind ``{entry.input_kind}``).",
        _shape_section(entry),
    ])


_GENERATED: dict[tuple[str, type], type[BoundComponentBlock]] = {}


def component_block(class_name: str) -> type[BoundComponentBlock]:
    """The ``<Name>Block`` class of a registered component (made once, from its registration).

    Example:
        >>> MLPBlock = component_block("MLP")
        >>> MLPBlock([64], name="deep")
        MLPBlock([64], name='deep')
        >>> MLPBlock([64]).to_config() == ComponentBlock("MLP", hidden_units=[64]).to_config()
        True
    """
    entry = COMPONENTS.get(class_name, "component_block")
    key = (entry.name, entry.cls)
    cls = _GENERATED.get(key)
    if cls is None:
        cls = type(f"{entry.name}{_SUFFIX}", (BoundComponentBlock,), {
            "component": entry.name, "__doc__": _docstring(entry), "__module__": __name__,
            "__qualname__": f"{entry.name}{_SUFFIX}",
            "__signature__": _signature(entry),
        })
        _GENERATED[key] = cls
    return cls


def _signature(entry: ComponentSpec) -> inspect.Signature:
    """What ``help()`` shows: the positional parameters, then every other parameter by name."""
    kind = inspect.Parameter
    fields = entry.params.model_fields
    params = [kind(p, kind.POSITIONAL_OR_KEYWORD, default=kind.empty if fields[p].is_required() else
                   fields[p].get_default(call_default_factory=True)) for p in entry.positional]
    params += [kind(n, kind.KEYWORD_ONLY, default=kind.empty if f.is_required() else
                    f.get_default(call_default_factory=True)) for n, f in fields.items() if n not in entry.positional]
    params += [kind("merge", kind.KEYWORD_ONLY, default=None), kind("name", kind.KEYWORD_ONLY, default=None)]
    return inspect.Signature(params)


def component_block_names() -> list[str]:
    """``<Name>Block`` for every registered component (sorted)."""
    return [f"{name}{_SUFFIX}" for name in COMPONENTS.names()]


def block_for_attribute(attribute: str) -> type[BoundComponentBlock] | None:
    """The generated class for ``<Name>Block`` when ``Name`` is a registered component, else None."""
    if attribute.endswith(_SUFFIX) and attribute[:-len(_SUFFIX)] in COMPONENTS:
        return component_block(attribute[:-len(_SUFFIX)])
    return None


__all__.append("block_for_attribute")


def __getattr__(attribute: str) -> type:
    """``<Name>Block`` resolves here too, so generated classes pickle by their qualified name."""
    block = block_for_attribute(attribute)
    if block is None:
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    return block


class CrossBlock(BoundComponentBlock):
    """``depth`` DCN-v2 cross layers with separate kernels: ``x_{l+1} = x0 * (W x_l + b) + x_l``.

    Adds ``depth`` to the ``Cross`` component: ``depth=1`` is one ``Cross`` component; more
    compile to a ``recurrent`` body with ``fixed_input_index: 0`` over
    ``extra_input_fn: 'lambda x: [x, x]'`` (EasyRec's DCN-v2). Other keywords are ``Cross``
    parameters, with its defaults.

    Shape:
        - Input: ``(B, D)`` (a dict is concatenated).
        - Output: ``(B, D)``.
    """

    component = "Cross"

    def __init__(self, depth: int = 1, *, name: str | None = None, **params: Any) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ConfigError("CrossBlock.depth", "depth must be a positive int", ">= 1", depth)
        super().__init__(name=name, **params)
        self.depth = depth
        if depth != 1:
            self._shown.insert(0, f"depth={depth}")

    def body(self) -> dict[str, Any]:
        if self.depth == 1:
            return super().body()
        recurrent = parse_params(RecurrentConfig, {"num_steps": self.depth, "fixed_input_index": 0,
                                                   "component": self.component_config()}, f"{self.where()}.depth")
        return {"extra_input_fn": "lambda x: [x, x]", "recurrent": recurrent}


class ConcatFeatures(BoundComponentBlock):
    """Concatenate a dict's entries in sorted key order (Merlin ``ConcatFeatures``; output named ``concat``).

    The ``Concatenate`` component under Merlin's name.

    Shape:
        - Input: ``{key: (B, ..., D_k)}`` (``axis`` counts the batch axis).
        - Output: ``(B, ..., sum D_k)``.
    """

    component = "Concatenate"
    default_name = "concat"

    def __init__(self, axis: int = -1, *, name: str | None = None) -> None:
        super().__init__(**({} if axis == -1 else {"axis": axis}), merge="list", name=name)
        self.default_name = "concat"  # type: ignore[misc]
        self._shown = [] if axis == -1 else [repr(axis)]
