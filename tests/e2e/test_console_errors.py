"""An executor that cannot be reached: the console answers with a page that says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import TOKEN, serving, tokens_file
from turnout.config import Settings
from turnout.http import create_app


class _Unreachable:
    """A client whose executor is down."""

    executor = "internal"
    tenant_id = "default"

    async def list_workflows(self, **filters: Any) -> list[Any]:
        raise ConnectionError("connection refused")

    def get_workflow_handle(self, workflow_id: str, **options: Any) -> Any:
        return self

    async def describe(self) -> Any:
        raise ConnectionError("connection refused")

    async def close(self) -> None:
        return None


async def test_an_unreachable_executor_is_a_page_that_says_so(tmp_path: Path) -> None:
    async def unreachable(tenant: str) -> Any:
        return _Unreachable()

    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"),
        tokens_file=tokens_file(tmp_path),
        client_factory=unreachable,
    )
    with serving(app) as url:
        async with httpx.AsyncClient(base_url=url, cookies={"turnout_token": TOKEN}) as http:
            for path in ("/", "/runs/order-1"):
                response = await http.get(path)
                assert response.status_code == 503, path
                assert response.headers["content-type"].startswith("text/html")
                assert "This page could not be shown" in response.text
                assert "the executor cannot be reached (connection refused)" in response.text
