"""Recognise an EasyRec pipeline config file and read it as a recblocks run config.

A file is EasyRec's when its suffix is one of :data:`~recblocks.easyrec.text.CONFIG_SUFFIXES`
(``.config``, ``.prototxt``, ...), or, for any other suffix, when its first token is a top-level
field of EasyRec's pipeline message followed by ``:`` or ``{`` (``model_dir: "..."``,
``train_config {``), which YAML never reads as a mapping of that shape with a brace.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from recblocks.easyrec.schema import message_descriptor
from recblocks.easyrec.text import CONFIG_SUFFIXES, parse_pipeline_config
from recblocks.easyrec.translate import translate_pipeline

__all__ = ["is_easyrec_file", "load_easyrec_file"]

_FIRST = re.compile(r"\A(?:\s*#[^\n]*\n|\s+)*([A-Za-z_][A-Za-z0-9_]*)\s*(\{|:\s*\{|:\s*[\"'])")


def is_easyrec_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds an EasyRec pipeline config (by suffix, then by its first field)."""
    path = Path(path)
    if path.suffix.lower() in CONFIG_SUFFIXES:
        return True
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    match = _FIRST.match(head)
    return bool(match) and match.group(1) in message_descriptor("EasyRecConfig").fields_by_name


def load_easyrec_file(path: str | os.PathLike[str], notes: list[str] | None = None) -> dict[str, Any]:
    """Parse ``path`` as EasyRec does (a value given twice: the last wins, with a warning) and translate it."""
    pipeline = parse_pipeline_config(Path(path), strict=False)
    return translate_pipeline(pipeline, "", notes)
