"""``recblocks components --details`` / ``--markdown`` and the generated docs/components.md."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from recblocks.cli.listing import components_markdown, docstring_sections, entry_details
from recblocks.cli.main import cli
from recblocks.core import COMPONENTS

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "components.md"


def test_docs_components_md_is_the_generated_reference() -> None:
    assert REFERENCE.exists(), "docs/components.md is missing: run `recblocks components --markdown > docs/components.md`"
    assert REFERENCE.read_text() == components_markdown(), (
        "docs/components.md is stale: run `recblocks components --markdown > docs/components.md`")


def test_reference_names_every_component_with_its_facts() -> None:
    text = components_markdown()
    for entry in COMPONENTS.entries():
        assert f"\n### {entry.name}\n" in text
        for alias in entry.aliases:
            assert f"`{alias}`" in text
        for name in entry.params.model_fields:
            assert f"| `{name}` |" in text, f"{entry.name}.{name} missing from the reference"
    assert f"{len(COMPONENTS.entries())} components:" in text


def test_details_prints_params_shapes_and_example() -> None:
    result = CliRunner().invoke(cli, ["components", "--details", "FM"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("FM - Second-order factorization machine")
    assert "use_variant: bool = False" in out and "\nShape:\n" in out and "\nExample:\n" in out
    assert "input: fields" in out and "module: recblocks.layers.fm" in out
    assert entry_details("fm") == entry_details("FM")  # a unique case-insensitive match is accepted


def test_details_of_an_unknown_name_is_one_line_with_a_suggestion() -> None:
    result = CliRunner().invoke(cli, ["components", "--details", "MPL"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "unknown component" in lines[0] and "did you mean 'MLP'" in lines[0]


def test_markdown_option_prints_the_reference() -> None:
    result = CliRunner().invoke(cli, ["components", "--markdown"])
    assert result.exit_code == 0 and result.output == components_markdown()


def test_docstring_sections_split_google_style() -> None:
    doc = """Summary line.

    More text.

    Args:
        units: how many.
            Continued.

    Shape:
        - Input: (B, D).
    """
    sections = docstring_sections(doc)
    assert sections[""] == "Summary line.\n\nMore text."
    assert sections["Shape"] == "- Input: (B, D)."
    assert sections["Args"].startswith("units: how many.")
