"""Where the EasyRec inputs live (``../shared`` beside the repository) and how seed cases are cut out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
#: EasyRec's 224 shipped pipeline configs (Apache-2.0), read in place, never copied here.
EASYREC_CONFIGS = SHARED / "easyrec"
#: The seed document whose cases 1-10 hold EasyRec ``model_config`` blocks.
SEED_GLOB = "000_*.txt"


def shipped_configs() -> list[Path]:
    return sorted(EASYREC_CONFIGS.rglob("*.config")) if EASYREC_CONFIGS.is_dir() else []


def need_shipped_configs() -> list[Path]:
    files = shipped_configs()
    if not files:
        pytest.skip(f"EasyRec's shipped configs are absent: expected *.config files under {EASYREC_CONFIGS} "
                    "(../shared/easyrec beside the repository)")
    return files


def seed_model_configs() -> dict[int, str]:
    """Case number -> the ``model_config`` block of that case, ``...`` omission lines removed."""
    seeds = sorted((SHARED / "seeds").glob(SEED_GLOB)) if (SHARED / "seeds").is_dir() else []
    if not seeds:
        pytest.skip(f"the seed cases are absent: expected {SHARED / 'seeds' / SEED_GLOB}")
    text = seeds[0].read_text(encoding="utf-8")
    cases: dict[int, str] = {}
    for heading in re.finditer(r"^Case (\d+):", text, re.MULTILINE):
        number = int(heading.group(1))
        if number in cases:
            continue
        start = text.index("model_config", heading.end())
        block = text[start:_closing_brace(text, text.index("{", start)) + 1]
        cases[number] = "\n".join(line for line in block.split("\n") if line.strip() != "...")
    return cases


def _closing_brace(text: str, opening: int) -> int:
    """Index of the brace that closes the one at ``opening`` (braces inside quotes do not count)."""
    depth, quote, index = 0, None, opening
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise AssertionError(f"unbalanced braces from offset {opening}")
