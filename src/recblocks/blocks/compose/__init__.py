"""The Python composition API: blocks that build the typed backbone config directly (Merlin semantics).

Expressions (``LambdaBlock``, ``RepeatBlock(input_fn=...)``...) are allow-listed text, checked
when the block is created; a Python callable is refused, because a model must save as a config.

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
    LIST_INPUT_COMPONENTS,
    ActivationBlock,
    AddBlock,
    BatchNormalizationBlock,
    ComponentBlock,
    ConcatFeatures,
    CrossBlock,
    CrossNetBlock,
    DenseBlock,
    DotInteractionBlock,
    DropoutBlock,
    FlattenBlock,
    FMBlock,
    LayerNormalizationBlock,
    MLPBlock,
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
    "LIST_INPUT_COMPONENTS",
    "ActivationBlock",
    "AddBlock",
    "BackboneBlock",
    "BatchNormalizationBlock",
    "Block",
    "CompileContext",
    "CompiledBody",
    "ComponentBlock",
    "ConcatFeatures",
    "ContinuousFeatures",
    "CrossBlock",
    "CrossNetBlock",
    "DenseBlock",
    "DotInteractionBlock",
    "DropoutBlock",
    "Edge",
    "EmbeddingFeatures",
    "FMBlock",
    "Filter",
    "FlattenBlock",
    "Identity",
    "InputBlock",
    "LambdaBlock",
    "LayerNormalizationBlock",
    "MLPBlock",
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
    "check_expression",
    "compile_body",
    "feature_tags",
    "snake_case",
]
