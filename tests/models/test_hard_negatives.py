"""HardNegatives: per-user edge lists (CSR), their first K per row, saved and loaded with the weights."""

from __future__ import annotations

import torch

from recblocks.models.hard_negatives import HardNegatives


def test_edges_keep_file_order_per_user_and_drop_repeats_and_reserved_ids():
    hard = HardNegatives(num_users=5, per_user=3)
    hard.fit(torch.tensor([4, 2, 4, 2, 4, 1, 0, 2]), torch.tensor([9, 6, 7, 6, 8, 5, 5, 1]))
    # user 2: 6 (repeated once), item 1 is out of vocabulary; users 0 and 1 are reserved ids
    assert hard.indptr.tolist() == [0, 0, 0, 1, 1, 4]
    assert hard.items.tolist() == [6, 9, 7, 8]
    items, valid = hard.lookup(torch.tensor([4, 2, 3]))
    assert items.tolist() == [[9, 7, 8], [6, 0, 0], [0, 0, 0]]
    assert valid.tolist() == [[True, True, True], [True, False, False], [False, False, False]]
    few = HardNegatives(num_users=5, per_user=2)
    few.fit(torch.tensor([4, 4, 4]), torch.tensor([9, 7, 8]))
    assert few.lookup(torch.tensor([4]))[0].tolist() == [[9, 7]]  # the first K, as graph-learn's "full" strategy


def test_no_edges_and_a_state_dict_of_another_length():
    empty = HardNegatives(num_users=3, per_user=2)
    items, valid = empty.lookup(torch.tensor([2, 1]))
    assert items.tolist() == [[0, 0], [0, 0]] and not valid.any()
    full = HardNegatives(num_users=3, per_user=2)
    full.fit(torch.tensor([2, 2]), torch.tensor([5, 6]))
    empty.load_state_dict(full.state_dict())
    assert empty.lookup(torch.tensor([2]))[0].tolist() == [[5, 6]]
