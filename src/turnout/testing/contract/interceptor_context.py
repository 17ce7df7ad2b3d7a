"""The context value the interceptor scenarios carry (a module of its own, imported by
workflow modules through ``workflow.unsafe.imports_passed_through()``, so the sandbox
shares it with the interceptors, as Temporal's context propagation sample does)."""

from __future__ import annotations

from contextvars import ContextVar

user_id: ContextVar[str | None] = ContextVar("turnout_contract_user_id", default=None)
HEADER = "__user_id"
