"""A workflow that reads how long its history is (the scenario in ``test_history_info.py``)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from turnout import workflow


@workflow.defn
class HistoryWatcher:
    @workflow.run
    async def run(self, rounds: int) -> list[object]:
        info = workflow.info()
        lengths = [info.get_current_history_length()]
        for _ in range(rounds):
            await workflow.sleep(timedelta(milliseconds=10))
            lengths.append(workflow.info().get_current_history_length())
        size = workflow.info().get_current_history_size()
        return [
            all(b > a for a, b in itertools.pairwise(lengths)),
            lengths[0] > 0,
            size > 0,
            workflow.info().is_continue_as_new_suggested(),
        ]


HISTORY_WORKFLOWS: list[type] = [HistoryWatcher]
