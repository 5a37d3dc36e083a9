"""PeriodicEmbedding, AutoDisEmbedding (components.md §1.5, §1.6) and NaryDisEmbedding: hand cases and errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.layers import (
    AutoDisEmbedding,
    AutoDisEmbeddingParams,
    NaryDisEmbedding,
    NaryDisEmbeddingParams,
    PeriodicEmbedding,
    PeriodicEmbeddingParams,
)


def test_periodic_hand_case() -> None:
    layer = PeriodicEmbedding.from_spec(PeriodicEmbeddingParams(embedding_dim=2, sigma=1.0, add_linear_layer=False),
                                        TensorSpec((1,)), "p")
    with torch.no_grad():
        layer.coefficients.fill_(0.25)
    # v = 2 pi * 0.25 * x: x=1 -> [sin pi/2, cos pi/2] = [1, 0]; x=0.5 -> [sin pi/4, cos pi/4]
    out = layer(torch.tensor([[1.0], [0.5]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [0.7071068, 0.7071068]]), atol=1e-6, rtol=0)


def test_periodic_linear_layer_is_per_feature() -> None:
    layer = PeriodicEmbedding.from_spec(PeriodicEmbeddingParams(embedding_dim=2, sigma=1.0, output_3d_tensor=True),
                                        TensorSpec((2,)), "p")
    with torch.no_grad():
        layer.coefficients.fill_(0.25)
        layer.weight.copy_(torch.stack([torch.eye(2), -torch.eye(2)]))  # feature 1 negated, then relu
    flat, emb = layer(torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(emb, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), atol=1e-6, rtol=0)
    assert flat.shape == (1, 4)


def test_periodic_output_forms_and_errors() -> None:
    params = PeriodicEmbeddingParams(embedding_dim=4, sigma=0.1, output_tensor_list=True, output_3d_tensor=True)
    layer = PeriodicEmbedding.from_spec(params, TensorSpec((3,)), "p")
    assert layer.output_spec(TensorSpec((3,))) == (TensorSpec((12,)), [TensorSpec((4,))] * 3)  # the list wins
    with pytest.raises(ConfigError, match="p.embedding_dim: PeriodicEmbedding embedding_dim must be even"):
        PeriodicEmbedding.from_spec(PeriodicEmbeddingParams(embedding_dim=3, sigma=1.0), TensorSpec((3,)), "p")


def test_autodis_hand_case() -> None:
    layer = AutoDisEmbedding.from_spec(AutoDisEmbeddingParams(embedding_dim=2, num_bins=2, temperature=1.0),
                                       TensorSpec((1,)), "a")
    with torch.no_grad():
        layer.projection.copy_(torch.tensor([[1.0, -1.0]]))
        layer.mixing.zero_()
        layer.meta_embedding.copy_(torch.eye(2)[None])
    # h = leaky_relu([2, -2], 0.2) = [2, -0.4]; z = 0.8 h = [1.6, -0.32]; p = softmax(z) = e (ME = I)
    torch.testing.assert_close(layer(torch.tensor([[2.0]])), torch.tensor([[0.872138, 0.127862]]), atol=1e-5, rtol=0)


def test_autodis_equals_a_loop_over_features() -> None:
    params = AutoDisEmbeddingParams(embedding_dim=3, num_bins=4, temperature=0.7, output_3d_tensor=True)
    layer = AutoDisEmbedding.from_spec(params, TensorSpec((2,)))
    x = torch.randn(5, 2)
    _, emb = layer(x)
    for n in range(2):
        h = torch.nn.functional.leaky_relu(layer.projection[n] * x[:, n:n + 1], 0.2)
        z = h @ layer.mixing[n].T + 0.8 * h
        expected = torch.softmax(z / 0.7, dim=-1) @ layer.meta_embedding[n]
        torch.testing.assert_close(emb[:, n], expected)


def test_nary_hand_case() -> None:
    layer = NaryDisEmbedding.from_spec(NaryDisEmbeddingParams(embedding_dim=1, carries=[2, 3]), TensorSpec((1,)), "n")
    assert layer.positions == [32, 21] and layer.rows_per_feature == 2 * 32 + 3 * 21
    with torch.no_grad():
        layer.table.copy_(torch.arange(float(layer.rows_per_feature))[:, None])  # row r holds r
    # 5 = 101 (base 2): rows 2*0+1, 2*1+0, 2*2+1 -> 1 + 2 + 5 = 8
    # 5 = 12 (base 3): rows 64 + 3*0+2, 64 + 3*1+1 -> 66 + 68 = 134; 0 has one digit: rows 0 and 64
    out = layer(torch.tensor([[5.0], [0.0], [-3.0]]))
    torch.testing.assert_close(out, torch.tensor([[8.0, 134.0], [0.0, 64.0], [0.0, 64.0]]))


def test_nary_mean_multiplier_and_features_have_own_rows() -> None:
    params = NaryDisEmbeddingParams(embedding_dim=1, carries=[2], intra_ary_pooling="mean", multiplier=10.0,
                                    output_tensor_list=True)
    layer = NaryDisEmbedding.from_spec(params, TensorSpec((2,)))
    with torch.no_grad():
        layer.table.copy_(torch.arange(128.0)[:, None])
    flat, fields = layer(torch.tensor([[0.59, 0.1]]))  # 5 and 1 after scaling and truncation
    # feature 0: rows 1, 2, 5 -> mean 8/3; feature 1 (rows from 64): row 64 + 1 -> 65
    torch.testing.assert_close(flat, torch.tensor([[8.0 / 3.0, 65.0]]))
    assert len(fields) == 2 and fields[1].shape == (1, 1)


def test_nary_replicas() -> None:
    params = NaryDisEmbeddingParams(embedding_dim=2, carries=[2, 3], num_replicas=3, output_3d_tensor=True)
    layer = NaryDisEmbedding.from_spec(params, TensorSpec((2,)))
    spec = layer.output_spec(TensorSpec((2,)))
    assert spec == [TensorSpec((8,))] * 3 + [TensorSpec((2, 4))] * 3
    out = layer(torch.rand(4, 2) * 100)
    assert [tuple(t.shape) for t in out] == [(4, 8)] * 3 + [(4, 2, 4)] * 3


@pytest.mark.parametrize("cls, params", [
    (PeriodicEmbedding, PeriodicEmbeddingParams(embedding_dim=2, sigma=1.0)),
    (AutoDisEmbedding, AutoDisEmbeddingParams(embedding_dim=2, num_bins=2, temperature=1.0)),
    (NaryDisEmbedding, NaryDisEmbeddingParams(embedding_dim=2)),
])
@pytest.mark.parametrize("spec", [TensorSpec((2, 3)), [TensorSpec((1,))] * 2, TensorSpec((2,), "long")])
def test_shape_errors(cls: type, params: object, spec: object) -> None:
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "num")
    assert f"num: {cls.__name__} embeds a 2-D tensor of numbers; expected (B, N) float" in str(info.value)
    layer = cls.from_spec(params, TensorSpec((2,)), "num")
    with pytest.raises(ShapeError, match=rf"num: {cls.__name__} was built for another number of features"):
        layer.output_spec(TensorSpec((3,)))


def test_nary_clamps_huge_values() -> None:
    layer = NaryDisEmbedding.from_spec(NaryDisEmbeddingParams(embedding_dim=1, carries=[2]), TensorSpec((1,)))
    with torch.no_grad():
        layer.table.fill_(1.0)
    assert layer(torch.tensor([[1e30]])).tolist() == [[32.0]]  # 2^32 - 1 has 32 binary digits
