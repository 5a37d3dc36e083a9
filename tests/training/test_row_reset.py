"""A row a dynamic vocabulary recycles starts again: fresh weights and fresh optimizer state."""

import torch

from recblocks.features.dynamic_vocab_config import DynamicVocabularyConfig
from recblocks.layers.embedding import EmbeddingCollection, EmbeddingSlot
from recblocks.training.row_reset import assigning_modules, reset_assigned_rows


def test_recycled_row_gets_initial_weights_and_accumulator():
    torch.manual_seed(0)
    vocab = DynamicVocabularyConfig(max_rows=4, evict_after=1)  # two id rows
    slots = [EmbeddingSlot("user", "deep", "sparse", 3, table="user", num_embeddings=4, vocabulary=vocab),
             EmbeddingSlot("item", "deep", "sparse", 3, table="item", num_embeddings=5)]
    collection = EmbeddingCollection(slots, sparse=True, init_std=0.01)
    weight = collection.fused["dim3"].table.weight
    opt = torch.optim.Adagrad([weight], lr=0.5, initial_accumulator_value=0.1)
    modules = assigning_modules(torch.nn.Sequential(collection))
    assert modules == [collection]

    def step(users):
        out = collection({"user": torch.tensor(users), "item": torch.tensor([2] * len(users))})
        loss = sum(v.sum() for v in out.pooled.values())
        opt.zero_grad()
        loss.backward()
        reset = reset_assigned_rows(modules, [opt])
        opt.step()
        return out, reset

    assert step([50, 60])[1] == 2  # rows 2 and 3 given to ids 50 and 60 (the user table starts at row 0)
    trained = weight[2].detach().clone()
    assert abs(trained).max() > 0.3  # moved far from the N(0, 0.01) start by lr 0.5
    step([60])
    out, reset = step([60, 70])  # 50 unseen for 2 > 1 steps: its row 2 goes to 70
    assert reset == 1
    sums = opt.state[weight]["sum"]
    # row 2 was reset to 0.1 before this step's update of 1.0 squared per coordinate
    assert torch.allclose(sums[2], torch.full((3,), 1.1))
    assert torch.allclose(sums[3], torch.full((3,), 0.1 + 3.0))  # 60 kept its accumulator: 3 updates
    looked_up = out.pooled[("deep", "user")][1]
    assert abs(looked_up).max() < 0.1  # 70 was looked up with a fresh N(0, 0.01) row, not 50's trained one
    assert collection.pop_assigned_rows() == []  # the trainer took them
