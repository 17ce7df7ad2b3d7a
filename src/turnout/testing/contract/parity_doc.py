"""The "Every name" section of docs/compatibility.md, written from the parity lists.

``python -m turnout.testing.contract.parity_doc`` prints the section;
``--write docs/compatibility.md`` replaces it in that file. ``test_parity_doc.py`` fails
when the page and the lists disagree, so the page says what the parity test checks.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from turnout.testing.contract.parity import IGNORED, SUPPORTED, UNSUPPORTED

__all__ = ["BEGIN", "END", "render", "replace_section"]

BEGIN = "<!-- every-name: begin (python -m turnout.testing.contract.parity_doc) -->"
END = "<!-- every-name: end -->"

SURFACES: tuple[tuple[str, str], ...] = (
    ("workflow", "`temporalio.workflow` → `turnout.workflow`"),
    ("workflow.unsafe", "`temporalio.workflow.unsafe` → `turnout.workflow.unsafe`"),
    ("activity", "`temporalio.activity` → `turnout.activity`"),
    ("client", "`temporalio.client` → `turnout.client`"),
    ("Client", "`temporalio.client.Client` methods → every executor's client"),
    ("WorkflowHandle", "`temporalio.client.WorkflowHandle` methods → every executor's handle"),
    ("worker", "`temporalio.worker` → `turnout.worker`"),
    ("common", "`temporalio.common` → `turnout.common`"),
    ("exceptions", "`temporalio.exceptions` → `turnout.exceptions`"),
    ("testing", "`temporalio.testing` → `turnout.testing`"),
    ("contrib.pydantic", "`temporalio.contrib.pydantic` → `turnout.contrib.pydantic`"),
)


def _surface(name: str) -> tuple[str, str]:
    for surface, _ in sorted(SURFACES, key=lambda s: len(s[0]), reverse=True):
        if name.startswith(surface + ".") and "." not in name[len(surface) + 1 :]:
            return surface, name[len(surface) + 1 :]
    raise ValueError(f"{name!r} is on no known surface")


def _rows() -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in SUPPORTED:
        surface, attr = _surface(name)
        rows[surface].append((attr, "Supported"))
    for name, reason in UNSUPPORTED.items():
        surface, attr = _surface(name)
        rows[surface].append((attr, f"Not supported: {reason}"))
    for name in IGNORED:
        surface, attr = _surface(name)
        rows[surface].append((attr, "Not claimed: a type turnout hands out, not called"))
    return rows


def render() -> str:
    """The section, between its markers."""
    rows = _rows()
    out = [
        BEGIN,
        "",
        "| module | supported | listed |",
        "| --- | --: | --: |",
    ]
    for surface, title in SURFACES:
        listed = rows.get(surface, [])
        supported = sum(1 for _, status in listed if status == "Supported")
        out.append(f"| {title} | {supported} | {len(listed)} |")
    for surface, title in SURFACES:
        out += ["", f"### {title}", "", "| name | turnout |", "| --- | --- |"]
        for attr, status in sorted(rows.get(surface, []), key=lambda r: r[0].lower()):
            out.append(f"| `{attr}` | {status} |")
    out += ["", END]
    return "\n".join(out)


def replace_section(text: str) -> str:
    """``text`` with its section between the markers replaced by :func:`render`."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render() + text[end:]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        path = Path(sys.argv[2])
        path.write_text(replace_section(path.read_text()))
    else:
        print(render())
