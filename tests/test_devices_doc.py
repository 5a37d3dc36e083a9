"""docs/distributed/devices.md: its config trains, and the errors it quotes are the real ones."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError
from recblocks.features.schema import Schema
from recblocks.runs import train_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "distributed" / "devices.md"


def _example(name: str) -> str:
    match = re.search(rf"<!-- devices-doc: {name} -->\s*```\w+\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/distributed/devices.md has no '{name}' example"
    return match.group(1)


def test_the_config_trains_with_a_bounded_dynamic_vocabulary(tmp_path):
    raw = yaml.safe_load(_example("config"))
    result = train_run(copy.deepcopy(raw), tmp_path / "run")
    vocab = result.model.embeddings.vocabularies["deep__user"]
    assert 0 < len(vocab) <= 254  # 500 values, at most max_rows - 2 of them hold a row
    assert result.preprocessor.num_embeddings("user") == 256
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(result.model.parameters()).device.type == expected  # device: auto


@pytest.mark.skipif(torch.cuda.is_available(), reason="the quoted error is the one of a machine without CUDA")
def test_the_quoted_no_cuda_error_is_the_real_one(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--demo", "--device", "cuda", "-o", str(tmp_path / "run")])
    assert result.exit_code != 0
    quoted = _example("no-cuda").strip()
    assert quoted.replace(torch.__version__, "<version>") in result.output.replace(torch.__version__, "<version>")


def test_the_quoted_config_error_is_the_real_one():
    feature = {"name": "user", "kind": "sparse", "vocabulary": {"max_rows": 100, "evict_aftr": 5}}
    with pytest.raises(ConfigError) as caught:
        Schema([{"name": "I1", "kind": "dense"}, feature])
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    start, end = "features[1].vocabulary.evict_aftr (feature 'user'): unknown parameter of this section;", \
        "did you mean 'evict_after'?"
    assert start in text and end in text
    assert str(caught.value).startswith(start) and str(caught.value).endswith(end)
