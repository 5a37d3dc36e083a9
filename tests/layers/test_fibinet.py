"""FiBiNet: the hand case of components.md §2.8, the EasyRec (fibinet++) form and errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.layers import FiBiNet, FiBiNetParams

V1, V2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])


def test_paper_mode_hand_case() -> None:
    params = parse_params(FiBiNetParams, {"mode": "fibinet", "bilinear": {"type": "all"}}, "fb")
    block = FiBiNet.from_spec(params, [TensorSpec((2,))] * 2, "fb")
    with torch.no_grad():
        # excitation exactly 1: z = [1.5, 3.5]; W1 = [1, 0] -> 1.5; W2 = [1/1.5, 1/1.5] -> A = [1, 1]
        block.senet.squeeze.weight.copy_(torch.tensor([[1.0, 0.0]]))
        block.senet.excite.weight.fill_(1.0 / 1.5)
        block.bilinear.weight.copy_(torch.eye(2))
        block.bilinear_v.weight.copy_(torch.eye(2))
    torch.testing.assert_close(block([V1, V2]), torch.tensor([[3.0, 8.0, 3.0, 8.0]]))


def test_easyrec_form_concatenates_senet_plus_and_bilinear_of_raw_embeddings() -> None:
    raw = {"senet": {"reduction_ratio": 4}, "bilinear": {"type": "each", "num_output_units": 3}}
    block = FiBiNet.from_spec(parse_params(FiBiNetParams, raw, "fb"), [TensorSpec((2,))] * 3, "fb")
    xs = [torch.randn(4, 2) for _ in range(3)]
    out = block(xs)
    assert block.senet.mode == "plus" and out.shape == (4, 6 + 3)
    torch.testing.assert_close(out, torch.cat([block.senet(xs), block.bilinear(xs)], dim=-1))


def test_shared_bilinear_and_mlp() -> None:
    block = FiBiNet.from_spec(FiBiNetParams(mode="fibinet", share_bilinear=True, mlp={"hidden_units": [3]}),
                              TensorSpec((3, 2)), "fb")
    assert block.bilinear_v is None and block(torch.randn(4, 3, 2)).shape == (4, 3)


def test_paper_mode_needs_the_classic_senet() -> None:
    with pytest.raises(ConfigError, match=r"fb.senet.mode: the fibinet mode re-weights fields with the classic"):
        FiBiNet.from_spec(FiBiNetParams(mode="fibinet", senet={"mode": "plus"}), TensorSpec((3, 2)), "fb")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4,)), "fb.senet: SENet: input must be a field list or a 3-D tensor; expected (B, F, D)"),
        ([TensorSpec((2,))], "fb.bilinear: BiLinear: too few fields; expected at least 2"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        FiBiNet.from_spec(FiBiNetParams(bilinear={}), spec, "fb")
    assert message in str(info.value)
