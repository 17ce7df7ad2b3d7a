"""Names the benchmark process and the peers' worker processes agree on.

Imports nothing, so a peer's worker process loads only its own system (and not
turnout) and its memory figures are its own.
"""

__all__ = [
    "APPLICATION",
    "ECHO",
    "ECHO_TOPIC",
    "FAN_OUT",
    "NOOP",
    "ONE_ACTIVITY",
    "PICKUP",
    "PING",
    "SEQUENTIAL",
]

APPLICATION = "turnout-bench"
"""The application name DBOS workers and the DBOS client share (queues are owned by it)."""

ONE_ACTIVITY = "one_activity"
SEQUENTIAL = "sequential"
FAN_OUT = "fan_out"
PICKUP = "pickup"
ECHO = "echo"
"""Workflow names: the benchmark's workflows (``benchmarks.flows``) on a peer."""

NOOP = "noop"
PING = "ping"
"""Step (DBOS) or task (Procrastinate) names: the benchmark's two activities."""

ECHO_TOPIC = "echo"
"""The DBOS message topic the echo workflow receives on: ``{"tag": ...}`` asks for one
ping, ``{"finish": true}`` ends it."""
