"""A conformance corpus after Temporal's public samples (temporalio/samples-python) and
temporalio's own tests: small workflows of our own, written with temporalio's names under
turnout's import root, each exercising one sample's behaviour.

Each module is one sample group and exports ``WORKFLOWS``, ``ACTIVITIES`` and
``SCENARIOS`` (the drivers, by sample name). ``test_corpus.py`` runs every scenario on
every executor; docs/samples.md maps each sample directory to its scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnout.testing.contract.corpus import (
    fleet,
    hello,
    hello_lifecycle,
    message_passing,
    patching,
    polling,
    propagation,
    recipes,
    scheduling,
    sdk,
    timers,
    visibility,
)
from turnout.testing.contract.corpus.support import Driver

__all__ = ["ACTIVITIES", "GROUPS", "SCENARIOS", "WORKFLOWS"]

GROUPS = (
    hello,
    hello_lifecycle,
    message_passing,
    patching,
    polling,
    timers,
    recipes,
    fleet,
    visibility,
    scheduling,
    sdk,
    propagation,
)
"""The corpus modules, one per sample group."""

WORKFLOWS: list[type] = [cls for group in GROUPS for cls in group.WORKFLOWS]
"""Every workflow of the corpus (names are unique across the groups)."""

ACTIVITIES: list[Callable[..., Any]] = [fn for group in GROUPS for fn in group.ACTIVITIES]
"""Every activity of the corpus."""

SCENARIOS: dict[str, Driver] = {
    name: driver for group in GROUPS for name, driver in group.SCENARIOS.items()
}
"""Every scenario, by the sample (or temporalio test) whose behaviour it exercises."""
