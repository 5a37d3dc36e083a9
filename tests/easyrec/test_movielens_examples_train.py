"""Acceptance 2 (MovieLens): EasyRec's example ``*_on_movielens.config`` files train unchanged apart from
their input paths, on a MovieLens-100K sample written in the ML-1M example layout.

Only ``train_input_path`` / ``eval_input_path`` are rewritten; the run is bounded to two short
epochs (the configs' own ``num_steps``/``num_epochs`` are for ML-1M) and the training loss must
be finite and fall. Skips when EasyRec's configs or MovieLens-100K are absent.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from recblocks.datasets.easyrec_files import prepare_movielens_example_files
from recblocks.runs import load_config_file, train_run

from ._seed_runs import ML100K, short_training
from .conftest import EASYREC_CONFIGS

EXAMPLES = EASYREC_CONFIGS / "examples" / "configs"
NAMES = sorted(p.name for p in EXAMPLES.glob("*_on_movielens.config")) if EXAMPLES.is_dir() else []


@pytest.fixture(scope="module")
def movielens_files(tmp_path_factory) -> dict[str, Path]:
    if not ML100K.is_dir():
        pytest.skip(f"MovieLens-100K is absent: expected the GroupLens files under {ML100K}")
    return prepare_movielens_example_files(ML100K, tmp_path_factory.mktemp("ml"), test_fraction=0.2, num_rows=1000)


def with_input_paths(text: str, train: Path, valid: Path) -> str:
    """``text`` with its ``train_input_path`` and ``eval_input_path`` values replaced (and nothing else)."""
    out, count = re.subn(r'(train_input_path\s*:\s*)(["\'])[^"\']*\2', lambda m: f'{m.group(1)}"{train}"', text)
    out, more = re.subn(r'(eval_input_path\s*:\s*)(["\'])[^"\']*\2', lambda m: f'{m.group(1)}"{valid}"', out)
    assert count == 1 and more == 1, "expected one train_input_path and one eval_input_path"
    return out


def test_the_twelve_examples_are_there():
    if not NAMES:
        pytest.skip(f"EasyRec's example configs are absent: expected {EXAMPLES}/*_on_movielens.config")
    assert len(NAMES) == 12, NAMES


@pytest.mark.parametrize("name", NAMES or ["(absent)"])
def test_example_config_trains_on_movielens_100k(name, movielens_files, tmp_path):
    if not NAMES:
        pytest.skip(f"EasyRec's example configs are absent: expected {EXAMPLES}/*_on_movielens.config")
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    config = tmp_path / name
    config.write_text(with_input_paths(source, movielens_files["train"], movielens_files["test"]), encoding="utf-8")
    result = train_run(short_training(load_config_file(config)), tmp_path / "run")
    first, last = result.history.train_loss
    assert math.isfinite(first) and math.isfinite(last)
    assert last < first, f"{name}: training loss {first:.4f} -> {last:.4f}"
