"""Seed cases as runnable EasyRec pipeline files: the fixture text, with small data where it points.

:func:`write_seed_case` writes ``seed_case_N.config`` (the fixture pipeline followed by the verbatim
``model_config`` block) into a folder, and the header-less data files its ``train_input_path`` /
``eval_input_path`` name, relative to that folder: a MovieLens-100K sample in EasyRec's ML-1M
example layout for the MovieLens cases, the synthetic Criteo-like table (label, I1..I13, C1..C26)
for the Criteo cases, and the synthetic multi-task table (two correlated labels, categorical
C1..Ck) for the multi-task cases, each written in the fixture's ``input_fields`` order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recblocks.datasets.easyrec_files import prepare_movielens_example_files, write_header_less
from recblocks.datasets.synthetic import make_synthetic
from recblocks.easyrec import parse_pipeline_config

from .conftest import SHARED

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ML100K = SHARED / "data" / "ml-100k"
#: seed case -> the data it trains on
DATA_OF_CASE = {1: "movielens", 2: "movielens", 3: "movielens", 6: "movielens", 7: "movielens",
                4: "criteo", 5: "criteo", 8: "multitask", 9: "multitask", 10: "multitask"}


def seed_case_text(number: int) -> str:
    """The fixture pipeline followed by the case's verbatim ``model_config`` block."""
    return (FIXTURES / f"seed_case_{number}_pipeline.config").read_text(encoding="utf-8") + \
        (FIXTURES / f"seed_case_{number}.config").read_text(encoding="utf-8")


def _synthetic(input_fields: list[str], rows: int, seed: int, kind: str) -> Any:
    categorical = [name for name in input_fields if name.startswith("C") and name[1:].isdigit()]
    if kind == "criteo":
        dense = [name for name in input_fields if name.startswith("I") and name[1:].isdigit()]
        return make_synthetic(num_rows=rows, seed=seed, num_dense=len(dense),
                              vocab_sizes=[200] * len(categorical))
    labels = input_fields[:2]
    return make_synthetic(num_rows=rows, seed=seed, num_dense=0, vocab_sizes=[200] * len(categorical),
                          multitask={"click_label": labels[0], "conversion_label": labels[1]})


def write_seed_case(number: int, folder: Path, rows: int = 1000, seed: int = 0) -> Path:
    """Write the case's config and its data files into ``folder``; the config's path.

    ``rows`` rows in all, 80% train and 20% eval (MovieLens: a random sample of the EasyRec-labelled
    ML-100K rows). Skips the test when ``../shared/data/ml-100k`` is absent for a MovieLens case.
    """
    text = seed_case_text(number)
    pipeline = parse_pipeline_config(text)
    data_config = pipeline["data_config"]
    fields = [field["input_name"] for field in data_config["input_fields"]]
    train, valid = folder / pipeline["train_input_path"], folder / pipeline["eval_input_path"]
    kind = DATA_OF_CASE[number]
    if kind == "movielens":
        if not ML100K.is_dir():
            pytest.skip(f"MovieLens-100K is absent: expected the GroupLens files under {ML100K}")
        written = prepare_movielens_example_files(ML100K, folder / "_ml", test_fraction=0.2, seed=seed,
                                                  num_rows=rows)
        train.parent.mkdir(parents=True, exist_ok=True)
        written["train"].rename(train)
        written["test"].rename(valid)
    else:
        table = _synthetic(fields, rows, seed, kind)
        cut = int(rows * 0.8)
        separator = data_config.get("separator", ",")
        write_header_less(table.slice(0, cut), train, fields, separator)
        write_header_less(table.slice(cut), valid, fields, separator)
    config = folder / f"seed_case_{number}.config"
    config.write_text(text, encoding="utf-8")
    return config


def short_training(raw: dict[str, Any], epochs: int = 2, batch_size: int = 128, seed: int = 0) -> dict[str, Any]:
    """The translated run config with a bounded training: ``epochs`` epochs of ``batch_size`` rows,
    no step cap, no progress bar, no TensorBoard, no mid-run checkpoints."""
    train = dict(raw.get("train", {}))
    for key in ("max_steps", "save_checkpoints_steps", "eval_steps"):
        train.pop(key, None)
    train.update(epochs=epochs, batch_size=batch_size, progress=False, tensorboard=False, seed=seed)
    return {**raw, "train": train}
