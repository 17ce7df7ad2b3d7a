"""A workflow whose history is fetched, exported and replayed (the scenarios in
``test_history_replay.py``), and a changed version of it that no longer matches."""

from __future__ import annotations

from datetime import timedelta

from turnout import activity, workflow

QUICK = timedelta(seconds=10)


@activity.defn
async def weigh(ingredient: str) -> int:
    return len(ingredient) * 10


@activity.defn
async def taste(ingredient: str) -> str:
    return f"{ingredient}: fine"


@workflow.defn
class Recipe:
    """Weighs each ingredient, waits a moment, then for ``serve``."""

    def __init__(self) -> None:
        self.served = False

    @workflow.run
    async def run(self, ingredients: list[str]) -> int:
        total = 0
        for ingredient in ingredients:
            total += await workflow.execute_activity(
                weigh, ingredient, start_to_close_timeout=QUICK
            )
        await workflow.sleep(0.05)
        await workflow.wait_condition(lambda: self.served)
        return total

    @workflow.signal
    def serve(self) -> None:
        self.served = True


@workflow.defn(name="Recipe")
class ChangedRecipe:
    """The same workflow type, changed without a patch: tastes before it weighs."""

    def __init__(self) -> None:
        self.served = False

    @workflow.run
    async def run(self, ingredients: list[str]) -> int:
        await workflow.execute_activity(taste, ingredients[0], start_to_close_timeout=QUICK)
        await workflow.wait_condition(lambda: self.served)
        return 0

    @workflow.signal
    def serve(self) -> None:
        self.served = True


HISTORY_WORKFLOWS: list[type] = [Recipe]
HISTORY_ACTIVITIES = [weigh, taste]
