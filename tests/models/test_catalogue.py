"""ItemCatalogue: frequencies, seen items from training, and seen items added later (the valid split)."""

from __future__ import annotations

import doctest

import torch

from recblocks.models import catalogue
from recblocks.models.catalogue import ItemCatalogue


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(catalogue, optionflags=doctest.ELLIPSIS).failed == 0


def test_added_interactions_merge_with_the_training_ones() -> None:
    cat = ItemCatalogue(6, 4, {})
    cat.fit(torch.tensor([2, 3, 3, 4]), {}, torch.tensor([2, 2, 3, 3]))
    # user 3 adds item 5 (new) and item 3 (already seen: counted once); user 0 (padding) is skipped
    cat.add_seen(torch.tensor([5, 3, 4]), torch.tensor([3, 3, 0]))
    assert cat.seen_mask(torch.tensor([2, 3, 0])).int().tolist() == [
        [0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]]
    assert cat.seen_indptr.tolist() == [0, 0, 0, 2, 5]
    # frequencies and the catalogue stay training's
    assert cat.item_ids().tolist() == [2, 3, 4]
    assert torch.allclose(cat.log_q[2:5].exp(), torch.tensor([0.25, 0.5, 0.25]))
