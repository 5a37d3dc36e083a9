"""The Python composition API: blocks that build the typed backbone config directly (Merlin semantics).

Expressions (``LambdaBlock``, ``RepeatBlock(input_fn=...)``...) are allow-listed text, checked
when the block is created; a Python callable is refused, because a model must save as a config.

``<Name>Block`` exists for every registered component (``MLPBlock``, ``FMBlock``,
``DotInteractionBlock``...): the module resolves these names from the component registry
(:func:`component_block`), so a component registered later has its block too. They are listed
in ``__all__`` for the components registered when this module is first imported.

Example:
    >>> from recblocks.blocks.compose import ContinuousFeatures, EmbeddingFeatures, MLPBlock, ParallelBlock
    >>> body = ParallelBlock({"embeddings": EmbeddingFeatures(embedding_dim=8),
    ...                       "deep": ContinuousFeatures().connect(MLPBlock([8]))}, aggregation="concat")
    >>> type(body).__name__
    'ParallelBlock'
"""

from recblocks.blocks.compose.base import Block, snake_case
from recblocks.blocks.compose.compile import (
    CompileContext,
    CompiledBody,
    Edge,
    Named,
    RawFeatures,
    Ref,
    compile_body,
)
from recblocks.blocks.compose.components import (
    BoundComponentBlock,
    ComponentBlock,
    ConcatFeatures,
    CrossBlock,
    block_for_attribute,
    component_block,
    component_block_names,
)
from recblocks.blocks.compose.config_block import BackboneBlock
from recblocks.blocks.compose.containers import (
    Filter,
    Identity,
    ParallelBlock,
    ResidualBlock,
    SequentialBlock,
    ShortcutBlock,
    WithShortcut,
)
from recblocks.blocks.compose.ranking import TFRS_MLP, RankingBody
from recblocks.blocks.compose.wrappers import LambdaBlock, RecurrentBlock, RepeatBlock, StackFeatures, check_expression
from recblocks.blocks.compose.inputs import (
    ContinuousFeatures,
    EmbeddingFeatures,
    InputBlock,
    SequenceEmbeddingFeatures,
    Tags,
    feature_tags,
)

__all__ = [
    "TFRS_MLP",
    "RankingBody",
    "BackboneBlock",
    "BoundComponentBlock",
    "Block",
    "CompileContext",
    "CompiledBody",
    "ComponentBlock",
    "ConcatFeatures",
    "ContinuousFeatures",
    "CrossBlock",
    "Edge",
    "EmbeddingFeatures",
    "Filter",
    "Identity",
    "InputBlock",
    "LambdaBlock",
    "Named",
    "ParallelBlock",
    "RawFeatures",
    "RecurrentBlock",
    "Ref",
    "RepeatBlock",
    "ResidualBlock",
    "SequenceEmbeddingFeatures",
    "SequentialBlock",
    "ShortcutBlock",
    "StackFeatures",
    "Tags",
    "WithShortcut",
    "block_for_attribute",
    "check_expression",
    "compile_body",
    "component_block",
    "component_block_names",
    "feature_tags",
    "snake_case",
]
__all__ = sorted({*__all__, *component_block_names()})  # the generated <Name>Block of every component


def __getattr__(attribute: str) -> type:
    """``<Name>Block`` for a registered component ``Name`` (made from its registration)."""
    block = block_for_attribute(attribute)
    if block is None:
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    return block


def __dir__() -> list[str]:
    return sorted({*globals(), *component_block_names()})
