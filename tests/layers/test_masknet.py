"""MaskBlock and MaskNet: the hand cases of components.md §3.2/§3.3, a naive loop, and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import MaskBlock, MaskBlockParams, MaskNet, MaskNetParams


def _identity_block(**params: object) -> MaskBlock:
    block = MaskBlock.from_spec(MaskBlockParams(aggregation_size=2, **params), [TensorSpec((2,))] * 2, "mb")
    with torch.no_grad():
        for layer in (block.aggregation, block.mask):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
        if block.output is not None:
            block.output.weight.copy_(torch.eye(2))
    return block


def test_mask_block_hand_case() -> None:
    net, mask_input = torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 2.0]])
    # agg = relu([1, 2]) = [1, 2]; mask = [1, 2]; h = [3, 4] * [1, 2] = [3, 8]
    torch.testing.assert_close(_identity_block()([net, mask_input]), torch.tensor([[3.0, 8.0]]))
    # W_o = I: LN([3, 8]) = [-0.9999992, 0.9999992] (eps 1e-5) -> relu
    out = _identity_block(output_size=2)([net, mask_input])
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.9999992]]), atol=1e-6, rtol=0)


def test_mask_block_widths() -> None:
    block = MaskBlock.from_spec(MaskBlockParams(reduction_factor=1.5, projection_dim=2), [TensorSpec((3,)),
                                                                                         TensorSpec((4,))])
    assert block.aggregation.out_features == 6 and block.aggregation.in_features == 2  # int(4 * 1.5), projected
    assert block.output_spec([TensorSpec((3,)), TensorSpec((4,))]) == TensorSpec((3,))


def test_mask_block_needs_a_width() -> None:
    params = parse_params(MaskBlockParams, {"output_size": 3}, "mb")
    with pytest.raises(ConfigError, match="mb.aggregation_size: a MaskBlock needs reduction_factor or aggregation_size"):
        MaskBlock.from_spec(params, TensorSpec((4,)), "mb")


@pytest.mark.parametrize(("spec", "message"), [
    ([TensorSpec((2,))], "mb: MaskBlock takes a net and a mask input; expected [net (B, D_net), mask_input"),
    (TensorSpec((2, 3)), "mb: MaskBlock inputs must be 2-D float tensors"),
    ([TensorSpec((2,)), TensorSpec((2, 2))], "mb: MaskBlock inputs must be 2-D float tensors"),
])
def test_mask_block_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        MaskBlock.from_spec(MaskBlockParams(aggregation_size=2), spec, "mb")
    assert message in str(info.value)


def test_masknet_widths_of_the_spec() -> None:
    parallel = MaskNet.from_spec(MaskNetParams(mask_blocks=[{"output_size": 3, "aggregation_size": 4}] * 2),
                                 TensorSpec((12,)))
    assert parallel.output_spec(TensorSpec((12,))) == TensorSpec((6,))
    serial = MaskNet.from_spec(MaskNetParams(mask_blocks=[{"output_size": 256, "aggregation_size": 8},
                                                          {"output_size": 128, "aggregation_size": 8}],
                                             use_parallel=False), TensorSpec((12,)))
    assert serial.output_spec(TensorSpec((12,))) == TensorSpec((128,))
    assert serial(torch.randn(2, 12)).shape == (2, 128)


def test_masknet_serial_equals_a_loop_and_norms_per_field() -> None:
    params = MaskNetParams(mask_blocks=[{"output_size": 4, "aggregation_size": 3}] * 2, use_parallel=False)
    net = MaskNet.from_spec(params, [TensorSpec((3,))] * 2)
    fields = [torch.randn(5, 3), torch.randn(5, 3)]
    x = torch.nn.functional.layer_norm(torch.stack(fields, dim=1), (3,), net.input_norm.weight,
                                       net.input_norm.bias).reshape(5, 6)  # per field
    h = x
    for block in net.blocks:
        mask = block.mask(torch.relu(block.aggregation(x)))
        h = torch.relu(block.output_norm(block.output(h * mask)))
    torch.testing.assert_close(net(fields), h)


@pytest.mark.parametrize(("spec", "message"), [
    ([TensorSpec((2,)), TensorSpec((3,))], "mn: MaskNet fields must have one embedding width"),
    (TensorSpec((2, 3, 4)), "mn: MaskNet takes flat embeddings or a field list; expected (B, D), (B, F, D)"),
    (TensorSpec((4,), "long"), "mn: MaskNet takes flat embeddings or a field list"),
])
def test_masknet_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        MaskNet.from_spec(MaskNetParams(mask_blocks=[{"aggregation_size": 2}]), spec, "mn")
    assert message in str(info.value)
