"""``turnout serve`` as a user runs it: a subprocess on a free port, on every executor.

Checked here over real HTTP: the live event stream of a run up to its close, the
token commands, and the OpenAPI document against the running server (schemathesis).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import turnout
from tests.integration.http_api_kit import ACTIVITIES, TENANT_A, WORKFLOWS, write_tokens

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["tests.workflows_for_tests", "tests.governance_workflows"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    """A running ``turnout serve``: its URL, tenant A's token, and its settings."""

    url: str
    token: str
    env: dict[str, str]
    settings: dict[str, Any]
    log: Path

    def http(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, **options
        )


def _env_for(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[dict[str, str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    if request.param == "temporal":
        address = str(request.getfixturevalue("temporal_address"))
        env["TURNOUT_EXECUTOR"] = "temporal"
        env["TURNOUT_TEMPORAL_ADDRESS"] = address
        return env, {"executor": "temporal", "temporal_address": address}
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path}/served.db"
    env["TURNOUT_DATABASE_URL"] = url
    return env, {"executor": "internal", "database_url": url}


def serve(
    env: dict[str, str], tmp_path: Path, *args: str
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "turnout",
                "serve",
                "--port",
                str(port),
                *args,
                *(f"--module={m}" for m in MODULES),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"turnout serve exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, log
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"turnout serve did not answer within 30 s: {log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(params=["sqlite", "postgres", "temporal"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    env, settings = _env_for(request, tmp_path)
    tokens = write_tokens(tmp_path / "tokens")
    env["TURNOUT_API_TOKENS_FILE"] = str(tmp_path / "tokens")
    proc, url, log = serve(env, tmp_path)
    try:
        yield Served(url, tokens[TENANT_A], env, settings, log)
    finally:
        stop(proc)


@pytest.fixture
async def worker_for(served: Served) -> AsyncIterator[str]:
    """A worker in this process for tenant A's runs on the served executor; its queue."""
    queue = f"served-{uuid.uuid4().hex[:8]}"
    client = await turnout.connect(**served.settings, tenant=TENANT_A)
    try:
        async with turnout.Worker(
            client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES
        ):
            yield queue
    finally:
        await client.close()


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Server-sent events as dicts (id, event, data), comments and retry hints skipped."""
    current: dict[str, Any] = {}
    async for line in lines:
        if not line:
            if "data" in current:
                yield current
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")


async def test_the_event_stream_delivers_live_events_until_the_run_closes(
    served: Served, worker_for: str
) -> None:
    async with served.http(timeout=30) as http:
        started = await http.post(
            "/workflows", json={"workflow": "SignalWorkflow", "task_queue": worker_for}
        )
        assert started.status_code == 202, started.text
        workflow_id = started.json()["workflow_id"]
        received: list[dict[str, Any]] = []
        async with (
            asyncio.timeout(60),
            http.stream(
                "GET", f"/workflows/{workflow_id}/events", headers={"Accept": "text/event-stream"}
            ) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            signaled = finished = False
            async for message in _sse(stream.aiter_lines()):
                event = json.loads(message["data"])
                assert message["id"] == str(event["seq"])
                assert message["event"] == event["type"]
                received.append(event)
                if not signaled:  # the run is open and the stream is live: steer it now
                    signaled = True
                    sent = await http.post(
                        f"/workflows/{workflow_id}/signals/add", json={"args": ["x"]}
                    )
                    assert sent.status_code == 202, sent.text
                elif event["type"] == "signal_received" and not finished:
                    finished = True
                    await http.post(f"/workflows/{workflow_id}/signals/finish")
        # The stream ended by itself, after the run's closing events.
        seqs = [e["seq"] for e in received]
        assert seqs == sorted(set(seqs))
        types = [e["type"] for e in received]
        assert types[0] == "workflow_started"
        assert types.count("signal_received") == 2
        assert "workflow_completed" in types
        everything = (await http.get(f"/workflows/{workflow_id}/events")).json()
        assert [e["seq"] for e in everything] == seqs

        # Resuming after an event id sends only what came after it, then ends (closed run).
        middle = seqs[len(seqs) // 2]
        async with http.stream(
            "GET",
            f"/workflows/{workflow_id}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(middle)},
        ) as again:
            resumed = [json.loads(m["data"])["seq"] async for m in _sse(again.aiter_lines())]
        assert resumed == [s for s in seqs if s > middle]


async def test_a_served_run_completes_and_a_token_added_later_works_without_restart(
    served: Served, worker_for: str, tmp_path: Path
) -> None:
    async with served.http(timeout=30) as http:
        started = await http.post(
            "/workflows",
            json={"workflow": "HelloWorkflow", "args": ["cy"], "task_queue": worker_for},
        )
        assert started.status_code == 202
        workflow_id = started.json()["workflow_id"]
        async with asyncio.timeout(30):
            while (body := (await http.get(f"/workflows/{workflow_id}")).json())[
                "state"
            ] != "completed":
                await asyncio.sleep(0.05)
        assert body["result"] == "HELLO, CY!"

    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "turnout", "token", "create", "--tenant", "tenant-b"],
        cwd=ROOT,
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token, line = created.stdout.split()[0], " ".join(created.stdout.split()[1:])
    assert line.startswith("tenant-b sha256:")
    assert token not in (tmp_path / "tokens").read_text()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as anonymous:
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await anonymous.get("/workflows", headers=bearer)).status_code == 401
        with (tmp_path / "tokens").open("a") as tokens:
            tokens.write(line + "  # added while serving\n")
        listed = await anonymous.get(
            "/workflows", headers=bearer, params={"task_queue": worker_for}
        )
        assert listed.status_code == 200, listed.text
        # Tenant B sees none of tenant A's runs (other tests' runs of B may exist).
        assert listed.json()["items"] == []
        theirs = await anonymous.get(f"/workflows/{workflow_id}", headers=bearer)
        assert theirs.status_code == 404


def test_serve_beyond_this_machine_without_a_tokens_file_says_how_to_make_one(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/t.db"
    done = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "turnout token create --tenant" in done.stderr
    assert "or serve on 127.0.0.1" in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "turnout", "serve", "--tokens-file", str(tmp_path / "nope")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_serve_on_loopback_without_a_tokens_file_serves_this_machine_only(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/local.db"
    env["PYTHONPATH"] = str(ROOT)
    proc, url, log = serve(env, tmp_path)
    try:
        banner = log.read_text()
        assert f"serving the HTTP API on {url}" in banner
        assert f"the web console: {url}/" in banner
        assert "no tokens file: requests from this machine act for tenant 'default'" in banner
        assert httpx.get(f"{url}/workflows", timeout=10).status_code == 200
        assert httpx.get(f"{url}/", timeout=10, follow_redirects=False).status_code == 200
        rebound = httpx.get(f"{url}/workflows", headers={"Host": "evil.example"}, timeout=10)
        assert rebound.status_code == 403
        assert "loopback" in rebound.json()["error"]["message"]
        foreign = httpx.post(
            f"{url}/workflows",
            json={"workflow_type": "HelloWorkflow", "task_queue": "q"},
            headers={"Origin": "http://evil.example"},
            timeout=10,
        )
        assert foreign.status_code == 403
        assert "another site" in foreign.json()["error"]["message"]
    finally:
        stop(proc)


SCHEMATHESIS_CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "ignored_auth",
        "allow_header_conformance",
    ]
)


@pytest.mark.parametrize("served", ["sqlite", "postgres", "temporal"], indirect=True)
def test_schemathesis_finds_no_server_error_and_every_answer_matches_the_schema(
    served: Served, tmp_path: Path
) -> None:
    """Property-based requests from /openapi.json against the running server, bounded
    (50 examples per operation, a fixed seed)."""
    schemathesis = Path(sys.executable).parent / "schemathesis"
    done = subprocess.run(
        [
            str(schemathesis), "run", f"{served.url}/openapi.json",
            "--header", f"Authorization: Bearer {served.token}",
            "--checks", SCHEMATHESIS_CHECKS,
            "--max-examples", "50",
            "--phases", "examples,coverage,fuzzing",
            "--workers", "1",
            "--seed", "20261124",
            "--request-timeout", "20",
            "--max-failures", "20",
            # A query waits for a worker of the run's task queue; none runs here
            # (queries are checked in test_http_api_control and the contract suite).
            "--exclude-path-regex", "/queries/",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = done.stdout[-12_000:] + done.stderr[-4_000:]
    assert done.returncode == 0, report
    server_log = served.log.read_text()
    assert "Traceback" not in server_log, server_log[-8_000:]


async def test_serve_stops_on_sigterm_while_an_event_stream_is_open(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/stop.db"
    tokens = write_tokens(tmp_path / "tokens")
    proc, url, log = serve(env, tmp_path, "--tokens-file", str(tmp_path / "tokens"))
    try:
        bearer = {"Authorization": f"Bearer {tokens[TENANT_A]}"}
        async with httpx.AsyncClient(base_url=url, headers=bearer, timeout=30) as http:
            started = await http.post(
                "/workflows", json={"workflow": "SleepyWorkflow", "task_queue": "nobody"}
            )
            workflow_id = started.json()["workflow_id"]
            async with http.stream(
                "GET", f"/workflows/{workflow_id}/events", headers={"Accept": "text/event-stream"}
            ) as stream:
                lines = stream.aiter_lines()
                async with asyncio.timeout(10):
                    while not (await anext(lines)).startswith("id: 1"):
                        pass
                proc.terminate()
                code = await asyncio.to_thread(proc.wait, 30)
        # uvicorn ends by raising the signal it caught again, as a process killed by it.
        assert code in {0, -signal.SIGTERM}, log.read_text()
        # The open stream ended by itself: uvicorn did not have to cancel it when its
        # graceful shutdown timed out.
        assert "graceful shutdown exceeded" not in log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
