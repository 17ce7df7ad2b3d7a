"""``python -m benchmarks.import_time``: what importing turnout costs, one fresh process each.

Each statement runs in a new interpreter ``--runs`` times; the table shows the median
and the fastest wall time of the statement alone (the interpreter's own start is not
counted) and whether SQLAlchemy, pydantic-settings and temporalio were imported by it.
``python -X importtime -c "import turnout"`` shows where the time goes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import click
from rich.console import Console
from rich.table import Table

__all__ = ["STATEMENTS", "main", "measure"]

STATEMENTS = (
    "import turnout",
    "from turnout import workflow, activity",
    "from turnout import connect",
    "from turnout.client import Client",
    "import turnout.cli",
)
"""What a program does first, from the cheapest to the dearest."""

_HEAVY = ("sqlalchemy", "pydantic_settings", "temporalio")

_PROBE = """
import json, sys, time
start = time.perf_counter()
exec(compile(sys.argv[1], "<statement>", "exec"))
elapsed = time.perf_counter() - start
print(json.dumps({"ms": elapsed * 1000, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def measure(statement: str, runs: int, executor: str) -> dict[str, object]:
    """The median and fastest milliseconds of ``statement`` over ``runs`` fresh processes,
    and the heavy modules it imported."""
    env = {**os.environ, "TURNOUT_EXECUTOR": executor}
    times: list[float] = []
    loaded: list[str] = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, statement, *_HEAVY],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        probe = json.loads(done.stdout)
        times.append(probe["ms"])
        loaded = probe["loaded"]
    return {"median": statistics.median(times), "min": min(times), "loaded": loaded}


@click.command()
@click.option("--runs", type=click.IntRange(1), default=9, show_default=True)
@click.option("--executor", type=click.Choice(["internal", "temporal"]), default="temporal",
              show_default=True, help="TURNOUT_EXECUTOR while importing.")  # fmt: skip
def main(runs: int, executor: str) -> None:
    """Print the import cost of each of STATEMENTS."""
    table = Table("statement", "median ms", "min ms", "heavy modules imported")
    for statement in STATEMENTS:
        found = measure(statement, runs, executor)
        table.add_row(
            statement,
            f"{found['median']:.1f}",
            f"{found['min']:.1f}",
            ", ".join(found["loaded"]) or "-",  # type: ignore[arg-type]
        )
    Console().print(table)


if __name__ == "__main__":
    main()
