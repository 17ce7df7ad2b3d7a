"""A workflow and an activity that log (the scenario in ``test_logging.py``)."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow


@activity.defn
async def log_from_activity(word: str) -> str:
    activity.logger.info("activity says %s", word)
    return word


@workflow.defn
class Chatty:
    @workflow.run
    async def run(self, word: str) -> str:
        workflow.logger.info("workflow says %s", word)
        return await workflow.execute_activity(
            log_from_activity, word, start_to_close_timeout=timedelta(seconds=10)
        )


LOGGING_WORKFLOWS: list[type] = [Chatty]
LOGGING_ACTIVITIES = [log_from_activity]
