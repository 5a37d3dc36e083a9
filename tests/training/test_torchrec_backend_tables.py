"""TorchRec's mapping of an EmbeddingCollection, in one process (world size 1, gloo).

Every slot kind (single ids, hashed ids, multi-valued with mean/sum pooling, weighted, sequences
and sequences of id lists), a table two features share, the wide namespace and widths FBGEMM
does not take (1, 6: padded to multiples of 4) produce the same FeatureEmbeddings as the plain
collection, before and after an SGD step; names and options TorchRec cannot hold are one-line
ConfigErrors naming the place. Skipped, with the reason printed, without the TorchRec extra
(except the test of that error itself).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.features.weighted import weight_key
from recblocks.layers.embedding import EmbeddingCollection, EmbeddingSlot

SKIP_REASON = "the torchrec backend needs the TorchRec extra: run `make setup-torchrec` to install it"
B = 5

SLOTS = [
    EmbeddingSlot("user", "deep", "sparse", 8, table="user", num_embeddings=10),
    EmbeddingSlot("author", "deep", "sparse", 8, table="user", num_embeddings=10),  # shares the user table
    EmbeddingSlot("query", "deep", "hashed", 8, table="query", num_embeddings=7),
    EmbeddingSlot("genres", "deep", "multi", 8, table="genres", num_embeddings=6, pooling="mean", max_len=3),
    EmbeddingSlot("tags", "deep", "multi", 8, table="tags", num_embeddings=5, pooling="mean", max_len=3,
                  weighted=True),
    EmbeddingSlot("clicks", "deep", "sequence", 8, table="clicks", num_embeddings=9, pooling="sum", max_len=4),
    EmbeddingSlot("baskets", "deep", "sequence", 8, table="baskets", num_embeddings=9, pooling="mean", max_len=3,
                  element_len=2),
    EmbeddingSlot("city", "deep", "sparse", 6, table="city", num_embeddings=4),  # width 6 -> TorchRec width 8
    EmbeddingSlot("user", "wide", "sparse", 1, table="user", num_embeddings=10),
    EmbeddingSlot("genres", "wide", "multi", 1, table="genres", num_embeddings=6, pooling="sum", max_len=3),
    EmbeddingSlot("price", "deep", "dense", 1),
]


class Probe(nn.Module):
    """The collection's FeatureEmbeddings as a flat dict of tensors (what DDP can pass on)."""

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = EmbeddingCollection(SLOTS, sparse=True, init_std=0.5)
        self.scale = nn.Parameter(torch.ones(1))  # a dense parameter, for DDP

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        emb = self.embeddings(features)
        out = {f"pooled/{k[0]}/{k[1]}": v * self.scale for k, v in emb.pooled.items()}
        out.update({f"sequence/{k[0]}/{k[1]}": v for k, v in emb.sequences.items()})
        out.update({f"length/{k[0]}/{k[1]}": v for k, v in emb.lengths.items()})
        return out

    def loss(self, out: dict[str, torch.Tensor], features: Any) -> Any:
        total = sum((v.float() * torch.arange(1, v.shape[-1] + 1)).sum() for k, v in out.items()
                    if not k.startswith("length"))
        return type("Terms", (), {"total": total})()


def _features() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)

    def ids(rows: int, *shape: int) -> torch.Tensor:
        out = torch.randint(2, rows, (B, *shape), generator=generator)
        return out.masked_fill(torch.rand(out.shape, generator=generator) < 0.35, 0)  # padding

    features = {"user": torch.tensor([2, 3, 9, 0, 1]), "author": torch.tensor([4, 4, 2, 9, 0]),
                "query": torch.tensor([6, 1, 0, 3, 5]), "genres": ids(6, 3), "tags": ids(5, 3),
                "clicks": ids(9, 4), "baskets": ids(9, 3, 2), "city": torch.tensor([1, 2, 3, 0, 3]),
                "price": torch.rand(B, generator=generator)}
    features["genres"][0] = 0  # a row with no ids at all
    features[weight_key("tags")] = torch.rand(B, 3, generator=generator)
    return features


@pytest.fixture
def world_of_one(tmp_path: Path) -> Any:
    pytest.importorskip("torchrec", reason=SKIP_REASON)
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _same(plain: dict[str, torch.Tensor], sharded: dict[str, torch.Tensor]) -> None:
    assert sorted(plain) == sorted(sharded)
    for key, value in plain.items():
        assert sharded[key].shape == value.shape, key
        assert torch.allclose(sharded[key].float(), value.float(), atol=1e-6), key


def test_every_slot_kind_maps_to_the_same_feature_embeddings(world_of_one: Any) -> None:
    from recblocks.training.torchrec_backend import plain_state_dict, shard_model

    torch.manual_seed(0)
    plain = Probe()
    model = Probe()
    model.load_state_dict(plain.state_dict())
    features = _features()
    sharded = shard_model(model, {"optimizer": {"name": "sgd", "lr": 0.1}})
    names = sorted(layout.name for layout in sharded.layouts)
    assert names == sorted(["deep__user", "deep__query", "deep__genres", "deep__tags", "deep__clicks",
                            "deep__baskets", "deep__city", "wide__user", "wide__genres"])  # one table per key
    assert {layout.name: layout.torchrec_dim for layout in sharded.layouts}["deep__city"] == 8
    with torch.no_grad():
        _same(plain(features), sharded.dmp(features))
    optimizer = torch.optim.SGD(plain.parameters(), lr=0.1)
    loss = plain.loss(plain(features), features).total
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    sharded.train_step(features)
    with torch.no_grad():
        _same(plain(features), sharded.dmp(features))
    state = plain_state_dict(sharded)
    for key, value in plain.state_dict().items():
        assert torch.allclose(state[key], value, atol=1e-6), key


@pytest.mark.parametrize(("options", "where", "words"), [
    ({"sharding": "row_wise"}, "train.embedding_sharding", "needs CUDA"),
    ({"sharding": "tabel_wise"}, "train.embedding_sharding", "did you mean 'table_wise'"),
    ({"train": {"optimizer": {"name": "adam"}}}, "train.optimizer.name", "only on CUDA"),
    ({"train": {"embedding_optimizer": {"name": "ftrl"}}}, "train.embedding_optimizer.name", "no such kind"),
])
def test_refusals_name_the_place(world_of_one: Any, options: dict[str, Any], where: str, words: str) -> None:
    from recblocks.training.torchrec_backend import shard_model

    with pytest.raises(ConfigError) as caught:
        shard_model(Probe(), options.get("train", {"optimizer": {"name": "sgd"}}),
                    sharding=options.get("sharding", "table_wise"))
    message = str(caught.value)
    assert message.startswith(where) and words in message and "\n" not in message, message


def test_a_dotted_table_name_is_refused(world_of_one: Any) -> None:
    from recblocks.training.torchrec_backend import shard_model

    class Dotted(Probe):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = EmbeddingCollection([EmbeddingSlot("a.b", "deep", "sparse", 4, table="a.b",
                                                                 num_embeddings=3)])

    with pytest.raises(ConfigError, match="^feature 'a.b': a name with a dot"):
        shard_model(Dotted(), {"optimizer": {"name": "sgd"}})


def test_without_the_extra_the_error_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from recblocks.training.torchrec_backend import require_torchrec

    monkeypatch.setitem(sys.modules, "torchrec", None)  # import torchrec -> ImportError
    with pytest.raises(ConfigError, match="^train.embedding_backend: .*make setup-torchrec"):
        require_torchrec()
