"""Hostile config files and ``--set`` overrides: every one is a one-line ConfigError naming the file
(and line) or the override, exit status 2, and no user file changes.

Covers the safe loader (:mod:`recblocks.core.config_loader`): duplicate keys, alias bombs and
self-referencing aliases, nesting, size, encodings, syntax, YAML tags, JSON; the bounded error
messages (a 5 MB value gives a short line); and the ``--set`` path parser.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from tests.malformed.conftest import Hostile, blocks, checksums

from recblocks.core import config_loader
from recblocks.core.errors import ConfigError
from recblocks.runs.config_file import load_config_file

BIG = 5_000_000  # characters of the huge values


def _base_text(hostile: Hostile) -> str:
    """The BASE config as YAML text (data written next to it)."""
    return yaml.safe_dump(hostile.config(), sort_keys=False)


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" flow sequence: ``width ** levels`` strings when expanded."""
    lines = ["  - &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"  - &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines)


def _validate(hostile: Hostile, text: str | bytes, name: str = "config.yaml", *extra: str):
    """Write ``text`` as the config, run ``recblocks validate`` on it; returns (result, path, before)."""
    path = hostile.root / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    before = checksums(hostile.root)
    return hostile.cli(["validate", str(path), *extra]), path, before


def _line_of(text: str, needle: str, occurrence: int = 1, exact: bool = False) -> int:
    """1-based line of the ``occurrence``-th line starting (after indentation) with ``needle``
    (equal to it when ``exact``)."""
    found = [i + 1 for i, line in enumerate(text.splitlines())
             if (line == needle if exact else line.lstrip(" -").startswith(needle))]
    return found[occurrence - 1]


# ----------------------------------------------------------------------------------- duplicate keys
def test_duplicate_top_level_key_names_file_line_and_key(hostile: Hostile) -> None:
    text = _base_text(hostile) + "train:\n  epochs: 5\n"
    result, path, before = _validate(hostile, text)
    line = _line_of(text, "train:", 2, exact=True)
    hostile.expect_error(result, "ConfigError", f"{path}:{line}", "duplicate key 'train'",
                         f"first given on line {_line_of(text, 'train:', exact=True)}")
    assert checksums(hostile.root) == before


def test_duplicate_key_inside_a_feature_entry(hostile: Hostile) -> None:
    text = _base_text(hostile).replace("  embedding_dim: 4\n", "  embedding_dim: 4\n  embedding_dim: 8\n", 1)
    result, path, before = _validate(hostile, text)
    hostile.expect_error(result, "ConfigError", f"{path}:{_line_of(text, 'embedding_dim: 8')}",
                         "duplicate key 'embedding_dim'")
    assert checksums(hostile.root) == before


def test_duplicate_key_in_a_json_config_names_its_line(hostile: Hostile) -> None:
    text = json.dumps(hostile.config(), indent=1).replace('"epochs": 1', '"epochs": 1,\n  "epochs": 2', 1)
    result, path, before = _validate(hostile, text, "config.json")
    line = next(i + 1 for i, row in enumerate(text.splitlines()) if '"epochs": 2' in row)
    hostile.expect_error(result, "ConfigError", f"{path}:{line}", "duplicate key 'epochs'")
    assert checksums(hostile.root) == before


def test_keys_equal_after_yaml_typing_are_duplicates(hostile: Hostile) -> None:
    text = _base_text(hostile) + "extra:\n  1: a\n  1.0: b\n"
    result, path, _ = _validate(hostile, text)
    hostile.expect_error(result, "ConfigError", f"{path}:{_line_of(text, '1.0: b')}", "duplicate key 1.0")


def test_a_merge_key_may_still_be_overridden(hostile: Hostile) -> None:
    text = ("base: &d {epochs: 7, log_every: 5}\n"
            + _base_text(hostile).replace("train:\n", "train:\n  <<: *d\n", 1))
    config = load_config_file(hostile.write_config(text, "merged.yaml"))
    assert config["train"]["epochs"] == 1 and config["train"]["log_every"] == 5


# ----------------------------------------------------------------------------------- aliases
@pytest.mark.parametrize("where", ["train.epochs", "component params", "feature tags"])
def test_alias_bomb_is_refused_at_the_alias_that_crosses_the_budget(hostile: Hostile, where: str) -> None:
    text = _base_text(hostile)
    bomb = "bombs:\n" + _bomb() + "\n"
    if where == "train.epochs":
        text = bomb + text.replace("epochs: 1", "epochs: *l8")
    elif where == "component params":
        text = bomb + text.replace("- 8\n", "- *l8\n", 1)
    else:
        text = bomb + text.replace("  kind: multi\n", "  kind: multi\n  tags: *l8\n", 1)
    result, path, before = _validate(hostile, text)
    line = hostile.expect_error(result, "ConfigError", str(path), "alias '*l", "beyond the alias budget")
    assert f"{path}:" in line and "100,000 values" in line
    assert checksums(hostile.root) == before


def test_ordinary_anchors_used_a_few_times_stay_allowed(hostile: Hostile) -> None:
    text = _base_text(hostile) + "shared: &mlp {hidden_units: [8, 1]}\ncopies: [*mlp, *mlp, *mlp, *mlp]\n"
    config = load_config_file(hostile.write_config(text, "anchors.yaml"))
    assert config["copies"][3] == {"hidden_units": [8, 1]}


@pytest.mark.parametrize("text,what", [("tags: &t [a, *t]", "sequence"), ("x: &m {inner: *m}", "mapping")])
def test_alias_of_a_collection_inside_itself(hostile: Hostile, text: str, what: str) -> None:
    result, path, before = _validate(hostile, _base_text(hostile) + text + "\n")
    hostile.expect_error(result, "ConfigError", f"{path}:", "refers to a collection that contains it")
    assert checksums(hostile.root) == before


def test_alias_that_nests_the_config_too_deeply(hostile: Hostile) -> None:
    deep = "a: &a " + "[" * 60 + "1" + "]" * 60 + "\nb: " + "[" * 50 + "*a" + "]" * 50 + "\n"
    result, path, _ = _validate(hostile, deep)
    hostile.expect_error(result, "ConfigError", f"{path}:2", "nests the config too deeply")


def test_undefined_alias(hostile: Hostile) -> None:
    result, path, _ = _validate(hostile, _base_text(hostile).replace("epochs: 1", "epochs: *nothing"))
    hostile.expect_error(result, "ConfigError", f"{path}:", "undefined alias 'nothing'")


# ----------------------------------------------------------------------------------- bytes, syntax, shape
def test_non_utf8_bytes_name_the_line(hostile: Hostile) -> None:
    text = _base_text(hostile).replace("name: item", "name: it\xe9m").encode("latin-1")
    result, path, before = _validate(hostile, text)
    line = text[: text.index(b"\xe9")].count(b"\n") + 1
    hostile.expect_error(result, "ConfigError", f"{path}:{line}", "not UTF-8", "byte 0xe9")
    assert checksums(hostile.root) == before


def test_utf16_config_is_named_as_such(hostile: Hostile) -> None:
    result, path, _ = _validate(hostile, _base_text(hostile).encode("utf-16"))
    hostile.expect_error(result, "ConfigError", str(path), "UTF-16")


def test_control_character_names_the_line(hostile: Hostile) -> None:
    text = _base_text(hostile).replace("name: item", "name: it\x00em")
    result, path, _ = _validate(hostile, text)
    hostile.expect_error(result, "ConfigError", f"{path}:{_line_of(text, 'name: it')}", "invalid YAML")


def test_unclosed_bracket_names_the_line(hostile: Hostile) -> None:
    text = _base_text(hostile).replace("epochs: 1", "epochs: [1, 2")
    result, path, _ = _validate(hostile, text)
    hostile.expect_error(result, "ConfigError", f"{path}:", "invalid YAML")


def test_tab_indentation(hostile: Hostile) -> None:
    result, path, _ = _validate(hostile, _base_text(hostile) + "extra:\n\tkey: 1\n")
    hostile.expect_error(result, "ConfigError", f"{path}:", "invalid YAML")


@pytest.mark.parametrize("text,got", [("- a\n- b\n", "list"), ("", "an empty file"), ("just text\n", "str")])
def test_top_level_must_be_a_mapping(hostile: Hostile, text: str, got: str) -> None:
    result, path, _ = _validate(hostile, text)
    hostile.expect_error(result, "ConfigError", str(path), "must be a mapping", f"got {got}")


def test_two_documents(hostile: Hostile) -> None:
    result, path, _ = _validate(hostile, _base_text(hostile) + "---\ntrain: {}\n")
    hostile.expect_error(result, "ConfigError", f"{path}:", "single document")


def test_python_tag_is_refused_and_runs_nothing(hostile: Hostile) -> None:
    marker = hostile.root / "pwned"
    text = _base_text(hostile) + f"x: !!python/object/apply:os.system ['touch {marker}']\n"
    result, path, _ = _validate(hostile, text)
    hostile.expect_error(result, "ConfigError", f"{path}:", "python/object")
    assert not marker.exists()


def test_integer_literal_too_long_to_read(hostile: Hostile) -> None:
    result, path, _ = _validate(hostile, _base_text(hostile).replace("epochs: 1", "epochs: " + "9" * 5000))
    hostile.expect_error(result, "ConfigError", str(path), "4300 digits")


def test_nesting_deeper_than_the_limit(hostile: Hostile) -> None:
    result, path, _ = _validate(hostile, "train: " + "[" * 200 + "]" * 200 + "\n")
    hostile.expect_error(result, "ConfigError", f"{path}:1", "nested too deeply", "at most 100 levels")


@pytest.mark.parametrize("text,part", [('{"train": {"epochs": 1,}}', "invalid JSON"),
                                       ("[" * 300 + "]" * 300, "nested too deeply")])
def test_malformed_json(hostile: Hostile, text: str, part: str) -> None:
    result, path, _ = _validate(hostile, text, "config.json")
    hostile.expect_error(result, "ConfigError", f"{path}:1", part)


def test_json_numbers_keep_json_meaning(hostile: Hostile) -> None:
    config = hostile.config()
    config["train"]["optimizer"] = {"name": "adam", "lr": 1e-05}
    path = hostile.write_config(json.dumps(config), "config.json")
    assert load_config_file(path)["train"]["optimizer"]["lr"] == 1e-05  # YAML 1.1 would read a string


# ----------------------------------------------------------------------------------- files and sizes
def test_config_larger_than_the_limit_is_refused_before_reading(hostile: Hostile) -> None:
    path = hostile.root / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(config_loader.MAX_CONFIG_BYTES + 1)  # sparse: nothing is written
    before = checksums(hostile.root)
    result = hostile.cli(["validate", str(path)])
    hostile.expect_error(result, "ConfigError", str(path), "too large", f"{config_loader.MAX_CONFIG_BYTES:,} bytes")
    assert checksums(hostile.root) == before


def test_directory_as_config(hostile: Hostile) -> None:
    folder = hostile.root / "conf.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a directory") as info:
        load_config_file(folder)
    assert str(folder) in str(info.value)


def test_symlink_loop_as_config(hostile: Hostile) -> None:
    a, b = hostile.root / "a.yaml", hostile.root / "b.yaml"
    os.symlink(b, a)
    os.symlink(a, b)
    result = hostile.cli(["validate", str(a)])
    hostile.expect_error(result, "ConfigError", str(a), "cannot read the config file")


def test_unreadable_config(hostile: Hostile, monkeypatch: pytest.MonkeyPatch) -> None:
    path = hostile.write_config(hostile.config())
    if os.name == "posix" and os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads any file: make the open fail as it would for another user
        real_open = Path.open

        def refuse(self: Path, *args: object, **kwargs: object):  # noqa: ANN202
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    try:
        hostile.expect_error(hostile.cli(["validate", str(path)]), "ConfigError", str(path),
                             "cannot read the config file (Permission denied)")
    finally:
        path.chmod(0o644)


def test_missing_config_file(hostile: Hostile) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config_file(hostile.root / "nope.yaml")


def test_five_megabyte_value_gives_a_short_error_line(hostile: Hostile) -> None:
    text = _base_text(hostile).replace("epochs: 1", "epochs: " + "x" * BIG)
    result, _, before = _validate(hostile, text)
    line = hostile.expect_error(result, "ConfigError", "train.epochs", f"({BIG + 2:,} characters)")
    assert len(line) < 1000
    assert checksums(hostile.root) == before


def test_five_megabyte_feature_name_gives_a_short_error_line(hostile: Hostile) -> None:
    text = _base_text(hostile).replace("- name: user", "- name: " + "u" * BIG, 1)
    result, _, _ = _validate(hostile, text)
    line = hostile.expect_error(result, "ConfigError", "feature_names", "characters)")
    assert len(line) < 1000


@pytest.mark.parametrize("loader", ["python", "libyaml"])
def test_both_yaml_scanners_apply_the_checks(hostile: Hostile, loader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if loader == "python":
        monkeypatch.setattr(config_loader, "_LOADER", config_loader._PythonLoader)
    elif config_loader._CParser is None:
        pytest.skip("PyYAML without libyaml")
    for text, part in [("a: 1\na: 2\n", "duplicate key 'a'"), ("x:\n" + _bomb() + "\n", "alias budget"),
                       ("a: &a [*a]\n", "contains it")]:
        with pytest.raises(ConfigError, match=part):
            config_loader.load_config_text(text, "c.yaml")


# ----------------------------------------------------------------------------------- --set
SET_CASES = [
    ("train.epochs.x=1", ["'train.epochs' is an integer (1), not a mapping", "cannot set 'x'"]),
    ("a..b=1", ["empty name in the key at character 3"]),
    ("=3", ["the override has no key"]),
    ("model.backbone.blocks[x]=1", ["a list index must be an integer", "got [x]"]),
    ("model.backbone.blocks[0=1", ["unterminated '['"]),
    ("model.backbone.blocks[-1].name=z", ["negative indexes are not supported"]),
    ("model.backbone.blocks[9].name=z", ["list index out of range for 'model.backbone.blocks'", "below 4"]),
    ("model.backbone[0]=z", ["'model.backbone' is a mapping, not a list"]),
    ("model.backbone.blocks.x=z", ["'model.backbone.blocks' is a list, not a mapping"]),
    ("train]=1", ["unexpected ']'"]),
    (".train=1", ["empty name in the key at character 1"]),
    ("train.epochs", ["must look like key.path=value"]),
    ("train.epochs=[1, 2", ["invalid YAML"]),
    ("train.epochs={a: 1, a: 2}", ["duplicate key 'a'"]),
    ("train.epochs=!!python/name:os.system", ["invalid YAML"]),
]


@pytest.mark.parametrize("override,parts", SET_CASES, ids=[c[0] for c in SET_CASES])
def test_bad_override_is_one_line_naming_it(hostile: Hostile, override: str, parts: list[str]) -> None:
    path = hostile.write_config(hostile.config())
    before = checksums(hostile.root)
    result = hostile.cli(["validate", str(path), "--set", override])
    hostile.expect_error(result, "ConfigError", f"--set {override}", *parts)
    assert checksums(hostile.root) == before


def test_alias_bomb_in_a_set_value(hostile: Hostile) -> None:
    levels = [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]" for i in range(9)]
    value = "[" + ", ".join(levels) + "]"
    path = hostile.write_config(hostile.config())
    result = hostile.cli(["validate", str(path), "--set", f"train.epochs={value}"])
    hostile.expect_error(result, "ConfigError", "--set train.epochs=", "alias budget")


def test_five_megabyte_set_value_gives_a_short_error_line(hostile: Hostile) -> None:
    path = hostile.write_config(hostile.config())
    result = hostile.cli(["validate", str(path), "--set", "train.epochs=" + "y" * BIG])
    line = hostile.expect_error(result, "ConfigError", "train.epochs", f"({BIG + 2:,} characters)")
    assert len(line) < 1000


def test_five_megabyte_set_key_gives_a_short_error_line(hostile: Hostile) -> None:
    path = hostile.write_config(hostile.config())
    result = hostile.cli(["validate", str(path), "--set", "k" * BIG + "..x=1"])
    line = hostile.expect_error(result, "ConfigError", "--set kkk", f"({BIG + 11:,} characters)", "empty name",
                                f"({BIG + 3:,} characters)")
    assert len(line) < 1000


def test_well_formed_overrides_still_apply(hostile: Hostile) -> None:
    path = hostile.write_config(hostile.config())
    result = hostile.cli(["validate", str(path), "--set", "model.backbone.blocks[2].component.params.hidden_units=[6, 1]",
                          "--set", "train.optimizer.name=adagrad", "--set", "train.new_section.x=1"])
    hostile.expect_error(result, "ConfigError", "train.new_section")  # created on the way, then refused by name
    result = hostile.cli(["validate", str(path), "--set", "model.backbone.blocks[2].component.params.hidden_units=[6, 1]",
                          "--set", "train.optimizer.name=adagrad"])
    assert result.exit_code == 0, result.output
    assert "config OK" in result.output
    assert blocks(load_config_file(path))[2]["component"]["params"]["hidden_units"] == [8, 1]  # the file is unchanged
