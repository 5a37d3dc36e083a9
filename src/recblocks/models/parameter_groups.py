"""The two parameter groups every recblocks model gives the trainer.

Embedding tables get sparse gradients and row-wise optimizer updates (``embedding_optimizer``);
every other trainable parameter is dense (``optimizer``). A model class mixes this in and
keeps its fused tables in ``self.embeddings`` (an
:class:`~recblocks.layers.embedding.EmbeddingCollection`).
"""

from __future__ import annotations

from torch import nn

__all__ = ["EmbeddingAndDenseParameters"]


class EmbeddingAndDenseParameters:
    """``embedding_parameters()`` and ``dense_parameters()`` of an ``nn.Module`` with ``self.embeddings``."""

    embeddings: nn.Module

    def embedding_parameters(self) -> list[nn.Parameter]:
        """Embedding tables (sparse gradients, row-wise optimizer updates)."""
        return self.embeddings.table_parameters()  # type: ignore[operator]

    def dense_parameters(self) -> list[nn.Parameter]:
        """Every other trainable parameter."""
        tables = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in tables]  # type: ignore[attr-defined]
