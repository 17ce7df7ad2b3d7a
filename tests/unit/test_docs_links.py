"""The links between the documentation pages: files that exist, headings they have."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.docs_blocks import FENCE, PAGES, ROOT

# --------------------------------------------------------------------------- links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (heading := re.match(r"^#{1,6}\s+(.*)$", line)):
            anchors.add(_slug(heading.group(1)))
    return anchors


def _links() -> Iterator[object]:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            yield pytest.param(page, target, id=f"{page.relative_to(ROOT).as_posix()}->{target}")


def test_slugs_follow_github() -> None:
    assert (
        _slug("Checking a deploy with `turnout replay`") == "checking-a-deploy-with-turnout-replay"
    )
    assert _slug("Leases, timeouts and the reaper") == "leases-timeouts-and-the-reaper"
    assert _slug("1. Install the Temporal extra") == "1-install-the-temporal-extra"


@pytest.mark.parametrize(("page", "target"), list(_links()))
def test_link(page: Path, target: str) -> None:
    """A relative link names an existing file, and an existing heading of it."""
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.name}: {target}: no such file"
    if anchor and file.suffix == ".md":
        assert anchor in _anchors(file), f"{page.name}: {target}: no such heading in {file.name}"
