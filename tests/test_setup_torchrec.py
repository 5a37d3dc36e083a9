"""`make setup-torchrec`, its pin file and the error that names it agree (no install is run)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import torch

from recblocks.layers.embedding_fbgemm import INSTALL_COMMAND

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "torchrec.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.]*)", line)
        assert match, f"requirements/torchrec.txt: not an exact pin: {line!r}"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def _recipe(makefile: str, target: str) -> list[str]:
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_makefile_target_installs_exactly_the_pin_file_without_dependencies() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert INSTALL_COMMAND == "make setup-torchrec"
    assert re.search(r"^\.PHONY:.*\bsetup-torchrec\b", makefile, re.M)
    assert re.search(r"^TORCHREC_PINS := requirements/torchrec\.txt$", makefile, re.M)
    recipe = _recipe(makefile, "setup-torchrec")
    installs = [line for line in recipe if " pip install" in line]
    assert installs == ["$(PY) -m pip install --quiet --no-deps -r $(TORCHREC_PINS)"]  # one install, the pin file
    assert any("$(TORCH_PIN)" in line for line in recipe)  # checks the core's torch before installing
    torch_pin = re.search(r"^TORCH_PIN := torch==(\S+)$", makefile, re.M)
    assert torch_pin and torch_pin.group(1) == "2.13.0"
    pins = _pins()
    assert "torch" not in pins  # torch comes from the core install, never from the extra
    assert pins["torchrec"] == pins["fbgemm-gpu-cpu"] == "1.8.0"  # released together
    assert len(pins) == 11


def test_installed_extra_matches_the_pins() -> None:
    pytest.importorskip("fbgemm_gpu", reason="fbgemm-gpu-cpu is not installed (opt-in extra: `make setup-torchrec`)")
    installed = {name: metadata.version(name) for name in _pins()}
    assert installed == _pins()


def test_readme_fbgemm_line_trains_the_readme_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import yaml

    from recblocks.runs import open_run, train_run

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    snippets = {kind: yaml.safe_load(body) for kind, body in
                re.findall(r"<!-- readme-example: (\w+) -->\s*```yaml\n(.*?)```", text, re.S)}
    raw = snippets["config"]
    raw["train"] = {**raw.get("train", {}), **snippets["fbgemm"]["train"]}
    pytest.importorskip("fbgemm_gpu", reason="fbgemm-gpu-cpu is not installed (opt-in extra: `make setup-torchrec`)")
    result = train_run(raw, tmp_path / "run")
    assert result.test_metrics["auc"] > 0.6
    trained = {k: v.clone() for k, v in result.model.state_dict().items()} if hasattr(result, "model") else None
    for module in [m for m in sys.modules if m.startswith("fbgemm_gpu")]:  # the run opens without the extra
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "fbgemm_gpu", None)
    model = open_run(result.run_dir)[-1]
    assert not any(hasattr(m, "tbe") for m in model.modules())  # a plain model read the fbgemm run's weights
    if trained is not None:
        loaded = model.state_dict()
        assert list(loaded) == list(trained) and all(torch.equal(loaded[k], trained[k]) for k in trained)
