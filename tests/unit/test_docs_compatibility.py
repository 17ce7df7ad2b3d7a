"""docs/compatibility.md's "Every name" section says what the parity lists say."""

from __future__ import annotations

from pathlib import Path

from turnout.testing.contract.parity import SUPPORTED, UNSUPPORTED
from turnout.testing.contract.parity_doc import BEGIN, END, render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def test_every_name_section_matches_the_parity_lists() -> None:
    text = PAGE.read_text()
    section = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert section == render(), (
        "docs/compatibility.md is out of date with turnout/testing/contract/parity.py: run "
        "python -m turnout.testing.contract.parity_doc --write docs/compatibility.md"
    )


def test_the_section_names_every_listed_name_once() -> None:
    section = render()
    for name in [*SUPPORTED, *UNSUPPORTED]:
        attr = name.rsplit(".", 1)[1]
        assert f"| `{attr}` |" in section, name
