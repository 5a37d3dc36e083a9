"""Dynamic id vocabularies: admission by count, eviction by age, the row bound, save/restore."""

import numpy as np
import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.features.dynamic_vocab import DynamicVocabulary
from recblocks.features.dynamic_vocab_config import DynamicVocabularyConfig
from recblocks.features.schema import Schema


def _vocab(**kw):
    return DynamicVocabulary(DynamicVocabularyConfig(**kw))


def test_admission_by_count_then_own_row():
    vocab = _vocab(max_rows=10, admit_min_count=3)
    assert vocab(torch.tensor([5, 5])).tolist() == [1, 1]  # seen twice: still the unknown row
    assert vocab(torch.tensor([5, 6])).tolist() == [2, 1]  # third time: row 2 (first id row)
    assert vocab(torch.tensor([6, 6, 5, -1])).tolist() == [3, 3, 2, 1]  # 6 reaches 3; missing -> 1
    assert vocab.assigned_rows == [3]
    vocab.eval()
    assert vocab(torch.tensor([[6, 7], [5, 5]])).tolist() == [[3, 1], [2, 2]]  # eval: 7 never admitted
    assert vocab.state_summary() == {"rows_used": 2, "candidates": 0, "step": 3}


def test_eviction_by_age_recycles_the_row():
    vocab = _vocab(max_rows=10, evict_after=2)
    assert vocab(torch.tensor([10, 11])).tolist() == [2, 3]  # step 1
    vocab(torch.tensor([11]))  # step 2
    vocab(torch.tensor([11]))  # step 3: 10 unseen for 2 steps, kept
    assert vocab(torch.tensor([11, 12])).tolist() == [3, 2]  # step 4: 10 unseen for 3 > 2 -> freed, 12 takes row 2
    assert vocab.assigned_rows == [2]
    vocab.eval()
    assert vocab(torch.tensor([10])).tolist() == [1]  # an evicted id maps to the unknown row


def test_full_table_evicts_least_recently_seen_or_waits():
    lru = _vocab(max_rows=4)  # two id rows
    lru(torch.tensor([1, 2]))
    lru(torch.tensor([2]))
    assert lru(torch.tensor([2, 3])).tolist() == [3, 2]  # 1 is the oldest: 3 takes its row
    wait = _vocab(max_rows=4, when_full="wait")
    wait(torch.tensor([1, 2]))
    assert wait(torch.tensor([3])).tolist() == [1]
    assert len(wait) == 2


def test_bound_held_under_100k_distinct_ids_and_deterministic():
    def run():
        vocab = _vocab(max_rows=1000, admit_min_count=2, evict_after=50, max_candidates=5000)
        rng = np.random.default_rng(0)
        outs = []
        for step in range(100):
            fresh = torch.arange(step * 1000, (step + 1) * 1000)  # 100k distinct ids in all
            repeat = torch.from_numpy(rng.integers(0, (step + 1) * 1000, 1000))
            rows = vocab(torch.cat([fresh, repeat]))
            assert int(rows.max()) < 1000 and int(rows.min()) >= 1
            assert len(vocab) <= 998 and vocab.state_summary()["candidates"] <= 5000
            outs.append(rows)
        return vocab, torch.cat(outs)

    first, rows_a = run()
    second, rows_b = run()
    assert torch.equal(rows_a, rows_b)
    assert len(first) == 998  # the table filled up and stayed within its bound
    index = first.mapping()
    assert len(set(index.values())) == len(index)  # no row held by two ids


def test_save_restore_round_trip():
    vocab = _vocab(max_rows=8, admit_min_count=2, evict_after=5)
    vocab(torch.tensor([1, 1, 2, 3, 3]))
    vocab(torch.tensor([2, 4]))
    state = {k: v.clone() for k, v in vocab.state_dict().items()}
    restored = _vocab(max_rows=8, admit_min_count=2, evict_after=5)
    restored.load_state_dict(state)
    assert restored.state_summary() == vocab.state_summary()
    batch = torch.tensor([4, 5, 1, 2, 3, 6])
    assert vocab(batch).tolist() == restored(batch).tolist()  # same admissions, 4 reaches its count in both
    vocab.eval(), restored.eval()
    assert vocab(batch).tolist() == restored(batch).tolist()


def test_mapping_stays_on_cpu_when_the_model_moves():
    vocab = _vocab(max_rows=5)
    vocab.to(torch.float64)
    assert vocab.row_ids.dtype == torch.int64 and vocab.row_ids.device.type == "cpu"


def test_config_errors_name_feature_and_field():
    with pytest.raises(ConfigError, match=r"vocabulary\.max_rows"):
        Schema([{"name": "user", "kind": "sparse", "vocabulary": {"type": "dynamic", "max_rows": 2}}])
    with pytest.raises(ConfigError, match=r"features\[0\]\.vocabulary \(feature .user.\).*min_count"):
        Schema([{"name": "user", "kind": "sparse", "min_count": 3, "vocabulary": {"max_rows": 100}}])
    with pytest.raises(ConfigError, match=r"vocabulary\.evict_aftr.*did you mean 'evict_after'"):
        Schema([{"name": "user", "kind": "sparse", "vocabulary": {"max_rows": 100, "evict_aftr": 5}}])


def test_planned_table_size_before_fitting_is_max_rows():
    from recblocks.runs.experiment import placeholder_vocab

    schema = Schema([{"name": "user", "kind": "sparse", "vocabulary": {"max_rows": 1000}}])
    assert placeholder_vocab(schema) == {"user": 1000}
