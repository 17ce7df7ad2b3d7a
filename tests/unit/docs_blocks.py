"""The fenced code blocks of the documentation, as the docs tests see them.

:func:`parse_blocks` reads a page's blocks with the HTML-comment markers right above
their fences (``fragment``, ``needs``, ``file``); ``PYTHON_BLOCKS``, ``SHELL_BLOCKS``,
``TOML_BLOCKS`` and ``SQL_BLOCKS`` are those of ``docs/*.md`` and ``README.md``. What
each test does with them is described in test_docs_code.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted(ROOT.glob("docs/*.md")), ROOT / "README.md"]

BACKENDS = ("sqlite", "postgres", "temporal")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}

_MARKER = re.compile(r"^\s*<!--\s*(fragment|needs|file)\b\s*:?\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^`]*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    """Path relative to the repository root."""
    line: int
    """Line of the opening fence, from 1."""
    language: str
    code: str
    markers: dict[str, str] = field(default_factory=dict)
    ordinal: int = 0
    """Position among the page's blocks of the same language, from 1."""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def fragment(self) -> bool:
        return "fragment" in self.markers

    @property
    def backends(self) -> list[str]:
        raw = self.markers.get("needs", "sqlite")
        return [b.strip() for b in raw.split(",") if b.strip()]

    @property
    def file(self) -> str | None:
        return self.markers.get("file")


def _markers(lines: list[str], fence_index: int, where: str) -> dict[str, str]:
    markers: dict[str, str] = {}
    i = fence_index - 1
    while i >= 0 and lines[i].strip().startswith("<!--"):
        match = _MARKER.match(lines[i])
        if match is not None:
            markers[match.group(1)] = match.group(2)
        i -= 1
    if markers.get("fragment"):
        raise ValueError(f"{where}: <!-- fragment --> takes no value")
    for backend in markers.get("needs", "sqlite").split(","):
        if backend.strip() not in BACKENDS:
            raise ValueError(
                f"{where}: <!-- needs: ... --> names {backend!r}, not one of {BACKENDS}"
            )
    name = markers.get("file")
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise ValueError(f"{where}: <!-- file: NAME --> needs a plain file name, got {name!r}")
    return markers


def parse_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with their markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    relative = page.relative_to(ROOT).as_posix()
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, language = opening.groups()
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        language = language.lower()
        counts[language] = counts.get(language, 0) + 1
        blocks.append(
            Block(
                page=relative,
                line=i + 1,
                language=language,
                code="\n".join(body) + "\n",
                markers=_markers(lines, i, f"{relative}:{i + 1}"),
                ordinal=counts[language],
            )
        )
        i = j + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in parse_blocks(page)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.language in {"python", "py"}]
SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.language in SHELL_LANGUAGES]
TOML_BLOCKS = [b for b in ALL_BLOCKS if b.language == "toml"]
SQL_BLOCKS = [b for b in ALL_BLOCKS if b.language == "sql"]
