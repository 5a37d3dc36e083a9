"""Vector dense features and numeric sequences through EmbeddingCollection and the input layer, by hand."""

from __future__ import annotations

import math

import torch

from recblocks.layers.embedding import EmbeddingCollection, EmbeddingSlot
from recblocks.layers.input_layer import GroupInput, GroupRawInput, InputLayerConfig
from recblocks.core.shapes import TensorSpec

NAN = math.nan


def test_a_vector_passes_through_or_is_projected_by_x_w() -> None:
    raw = EmbeddingSlot("v", "deep", "dense", 3, width=3)
    projected = EmbeddingSlot("w", "deep", "dense", 2, project=True, width=3)
    collection = EmbeddingCollection([raw, projected])
    (matrix,) = list(collection.vector_projections)
    with torch.no_grad():
        matrix.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    values = torch.tensor([[1.0, 2.0, 3.0]])
    out = collection({"v": values, "w": values})
    assert out.pooled[raw.key].tolist() == [[1.0, 2.0, 3.0]]
    assert out.pooled[projected.key].tolist() == [[4.0, 5.0]]  # 1*[1,0] + 2*[0,1] + 3*[1,1]
    group = GroupInput("g", [raw, projected], InputLayerConfig())
    assert group.output_spec() == TensorSpec((5,)) and group(out).tolist() == [[1.0, 2.0, 3.0, 4.0, 5.0]]
    assert GroupRawInput("g", [raw]).output_spec() == [TensorSpec((3,), "float")]


def test_a_numeric_sequence_is_masked_pooled_and_kept_as_a_sequence() -> None:
    slot = EmbeddingSlot("s", "deep", "sequence", 1, pooling="mean", max_len=3, numeric=True)
    out = EmbeddingCollection([slot])({"s": torch.tensor([[1.0, 3.0, NAN], [2.0, NAN, NAN]])})
    assert out.pooled[slot.key].tolist() == [[2.0], [2.0]]
    assert out.lengths[slot.key].tolist() == [2, 1]
    assert out.sequences[slot.key].squeeze(-1).tolist() == [[1.0, 3.0, 0.0], [2.0, 0.0, 0.0]]


def test_numeric_sequence_elements_are_projected_then_summed() -> None:
    slot = EmbeddingSlot("s", "deep", "sequence", 1, pooling="sum", project=True, max_len=2, width=2, numeric=True)
    collection = EmbeddingCollection([slot])
    with torch.no_grad():
        collection.numeric_projections[0].copy_(torch.tensor([[1.0], [10.0]]))
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [NAN, NAN]]])
    out = collection({"s": values})
    assert out.sequences[slot.key].squeeze(-1).tolist() == [[21.0, 43.0], [65.0, 0.0]]
    assert out.pooled[slot.key].tolist() == [[64.0], [65.0]]
    seq_slot = EmbeddingSlot("h", "deep", "sequence", 1, table="h", num_embeddings=4, max_len=2)
    both = EmbeddingCollection([slot, seq_slot])
    group = GroupInput("g", [seq_slot, slot], InputLayerConfig(output_seq_and_normal_feature=True))
    seq, lengths, target = group(both({"s": values, "h": torch.tensor([[2, 3], [2, 0]])}))
    assert tuple(seq.shape) == (2, 2, 2) and lengths.tolist() == [2, 1] and target is None  # lengths of the first


def test_elements_of_several_ids_are_pooled_per_element() -> None:
    slot = EmbeddingSlot("s", "deep", "sequence", 2, table="s", num_embeddings=5, pooling="sum", max_len=2,
                         element_len=2)
    collection = EmbeddingCollection([slot])
    with torch.no_grad():
        collection.fused["dim2"].table.weight.copy_(torch.arange(10, dtype=torch.float32).reshape(5, 2))
    out = collection({"s": torch.tensor([[[2, 3], [4, 0]], [[1, 0], [0, 0]]])})
    rows = [[2.0, 3.0], [4.0, 5.0], [6.0, 7.0]]  # the table rows of ids 1, 2 and 3
    expected_first = [[rows[1][0] + rows[2][0], rows[1][1] + rows[2][1]], [8.0, 9.0]]
    assert out.sequences[("deep", "s")][0].tolist() == expected_first
    assert out.sequences[("deep", "s")][1].tolist() == [rows[0], [0.0, 0.0]]
    assert out.lengths[("deep", "s")].tolist() == [2, 1]
    mean = EmbeddingSlot("s", "deep", "sequence", 2, table="s", num_embeddings=5, pooling="mean", max_len=2,
                         element_len=2)
    collection = EmbeddingCollection([mean])
    with torch.no_grad():
        collection.fused["dim2"].table.weight.copy_(torch.arange(10, dtype=torch.float32).reshape(5, 2))
    out = collection({"s": torch.tensor([[[2, 3], [4, 0]]])})
    assert out.sequences[("deep", "s")][0, 0].tolist() == [5.0, 6.0]  # mean of rows 2 and 3
