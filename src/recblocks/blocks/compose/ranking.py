"""``RankingBody``: the graph of TFRS's configurable DLRM/DCN ranking model, as one block.

``tfrs.experimental.models.Ranking(embedding_layer, bottom_stack, feature_interaction,
top_stack, concat_dense, task)``: dense features go through the bottom stack; the sparse
embeddings (sorted by feature name) plus the bottom output appended LAST feed the feature
interaction; with ``concat_dense`` the bottom output is concatenated before the interaction
output; the top stack scores the result. It compiles to a backbone config like any body.
:class:`recblocks.runs.Ranking` is the model built around it.
"""

from __future__ import annotations

from recblocks.blocks.compose.base import Block
from recblocks.blocks.compose.compile import (
    CompileContext,
    Named,
    RawFeatures,
    Ref,
    Value,
)
from recblocks.blocks.compose.inputs import ContinuousFeatures
from recblocks.core.errors import ConfigError

__all__ = ["RankingBody", "TFRS_MLP"]

#: TFRS's ``tfrs.layers.blocks.MLP`` in ``MLP`` component params: Dense layers with bias, Glorot-uniform
#: kernels, ReLU on every layer (the last too unless ``final_activation=None``), no batch norm.
TFRS_MLP = {"use_bn": False, "use_final_bn": False, "use_bias": True, "use_final_bias": True,
            "initializer": "glorot_uniform"}


class RankingBody(Block):
    """The TFRS ranking graph as one block.

    ``d = bottom_stack(dense_layer(x))``; ``z = feature_interaction([*embeddings, d])`` (the
    embeddings in sorted feature order, ``d`` last); ``z = concat([d, z])`` when
    ``concat_dense``; output ``top_stack(z)``. Without dense features (no ``dense_layer`` and
    none in the schema) the interaction sees the embeddings only.

    Shape:
        - Input: the raw features.
        - Output: the top stack's output, ``(B, 1)`` by default.
    """

    default_name = "ranking"

    def __init__(self, embedding_layer: Block, dense_layer: Block | None, bottom_stack: Block,
                 feature_interaction: Block, top_stack: Block, concat_dense: bool = True) -> None:
        super().__init__(None)
        for label, block in (("embedding_layer", embedding_layer), ("bottom_stack", bottom_stack),
                             ("feature_interaction", feature_interaction), ("top_stack", top_stack),
                             ("dense_layer", dense_layer)):
            if block is not None and not isinstance(block, Block):
                raise ConfigError(f"Ranking.{label}", "not a block", "a recblocks.blocks.compose Block",
                                  type(block).__name__)
        self.embedding_layer = embedding_layer
        self.dense_layer = dense_layer
        self.bottom_stack = bottom_stack
        self.feature_interaction = feature_interaction
        self.top_stack = top_stack
        self.concat_dense = concat_dense

    def children(self) -> tuple[Block, ...]:
        blocks = (self.embedding_layer, self.dense_layer, self.bottom_stack, self.feature_interaction, self.top_stack)
        return tuple(b for b in blocks if b is not None)

    def _args(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in ("embedding_layer", "bottom_stack",
                                                                  "feature_interaction", "top_stack"))

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        where = self.where()
        sparse = ctx.resolve(ctx.compile(self.embedding_layer, value, "embeddings"), where)
        dense_layer = self.dense_layer
        if dense_layer is None and isinstance(value, RawFeatures):
            names = value.names or ctx.schema.names()
            if any(ctx.schema[n].kind == "dense" for n in names):
                dense_layer = ContinuousFeatures(name="dense_features")
        d = None
        if dense_layer is not None:
            d = ctx.single(ctx.compile(self.bottom_stack, ctx.compile(dense_layer, value, "dense_features"),
                                       "bottom_stack"), where)
        if isinstance(sparse, Named):
            entries = sparse.items() + ([("dense", Ref((d,)))] if d is not None else [])
            fields: Value = Named(tuple(entries), ordered=True)
        else:
            fields = Ref(sparse.edges + ((d,) if d is not None else ()), into_list=sparse.into_list)
        z = ctx.single(ctx.compile(self.feature_interaction, fields, "interaction"), where)
        top_in: Value = Ref((z,))
        if self.concat_dense and d is not None:
            top_in = Named((("dense", Ref((d,))), ("interaction", Ref((z,)))), ordered=True)
        return ctx.compile(self.top_stack, top_in, hint or "top_stack")
