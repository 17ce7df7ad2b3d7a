"""The contract suite: the same scenarios, asserted identically on every executor.

Run it with ``pytest --pyargs turnout.testing.contract`` (choose executors with
``--turnout-executors=internal-sqlite,internal-postgres,temporal``).
"""
