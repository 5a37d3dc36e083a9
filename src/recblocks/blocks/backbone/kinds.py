"""Block kinds: what the body of a backbone block can be, one registration each (``BLOCK_KINDS``).

A kind is a class derived from :class:`BlockKind`, registered with its config key and its
config model::

    @BLOCK_KINDS.register("scale", params=ScaleConfig)
    class ScaleKind(BlockKind):
        in_layers = True                       # may also be an element of `layers`

        @classmethod
        def build(cls, config, in_spec, path, where):
            return BuiltBody(ScaleLayer(config.factor), None, in_spec)

That registration is all: blocks (and ``layers`` elements, with ``in_layers``) then accept
``scale: {...}``, validated by ``ScaleConfig`` with errors at its dotted path; the config
round-trips; the graph checks, the builder, the plan, the summary and the pictures dispatch
through the registry (:meth:`BlockKind.build`, :meth:`BlockKind.describe`,
:meth:`BlockKind.steps`, :meth:`BlockKind.components`). The built-in kinds (``input_layer``,
``lambda``, ``component``, ``recurrent``, ``repeat``, ``layers``, ``raw_input``,
``embedding_layer``) are registered in :mod:`recblocks.blocks.backbone.bodies`; they name
the :class:`~recblocks.blocks.backbone.config.BlockConfig` field that holds them
(:attr:`BlockKind.attribute`), a later kind is kept beside the fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params
from recblocks.core.registry import ClassEntry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.blocks.backbone.config import ComponentConfig

__all__ = ["BLOCK_KINDS", "BlockKind", "BlockKindSpec", "BuiltBody"]


@dataclass(frozen=True, kw_only=True)
class BlockKindSpec(ClassEntry):
    """A registered body kind: its :class:`BlockKind` class and the config model of its body."""

    params: type[Params]

    def facts(self) -> dict[str, object]:
        return {"config": self.params.__name__, "in_layers": bool(getattr(self.cls, "in_layers", False))}


#: Registered body kinds: name (the config key) -> a :class:`BlockKind` subclass and its config model.
BLOCK_KINDS: Registry[BlockKindSpec] = Registry("block kind", BlockKindSpec)


@dataclass
class BuiltBody:
    """A built body: a module to run, or a bare expression ``fn`` (or neither), and its output spec."""

    module: nn.Module | None
    fn: Callable[[Any], Any] | None
    output_spec: Any


class BlockKind:
    """Base of a registered body kind (a namespace of class methods; never instantiated).

    Attributes:
        attribute: the ``BlockConfig``/``LayerConfig`` field holding the body (built-in kinds);
            None for a kind registered later (kept beside the fields under its key).
        in_layers: whether the kind may be an element of a sequential ``layers`` list.
        reads_group: an input kind: it reads its one ``feature_group_name`` itself and is built
            with :meth:`build_input` instead of :meth:`build`.
    """

    attribute: ClassVar[str | None] = None
    in_layers: ClassVar[bool] = False
    reads_group: ClassVar[bool] = False
    registry_name: ClassVar[str] = ""  # set by the registry

    @classmethod
    def is_set(cls, config: Any) -> bool:
        """Whether a block holds this body (``layers``: a non-empty list)."""
        return config is not None

    @classmethod
    def components(cls, config: Any) -> Iterable[tuple[tuple[Any, ...], "ComponentConfig"]]:
        """Components inside the body with their path below the body key (for binding)."""
        return ()

    @classmethod
    def steps(cls, config: Any) -> int:
        """Components the body builds (counted against the planned-steps limit)."""
        return 1

    @classmethod
    def describe(cls, config: Any) -> str:
        """Short text for plan rows (e.g. ``MLP``, ``recurrent Cross x3``)."""
        return cls.registry_name

    @classmethod
    def label(cls, config: Any) -> str:
        """Text for model pictures (may add detail, e.g. ``MLP [64, 32]``)."""
        return cls.describe(config)

    @classmethod
    def build(cls, config: Any, in_spec: Any, path: str, where: str) -> BuiltBody:
        """Build for the merged input spec ``in_spec``; ``path`` is the body's config path."""
        raise ConfigError(where, f"a '{cls.registry_name}' body cannot be built on an input", "another body",
                          cls.registry_name)

    @classmethod
    def build_input(cls, config: Any, group: str, groups: Any, where: str) -> nn.Module:
        """Build an input kind for feature group ``group`` (``groups``: the model's input factory)."""
        raise ConfigError(where, f"a '{cls.registry_name}' body does not read a feature group", "an input kind",
                          cls.registry_name)
