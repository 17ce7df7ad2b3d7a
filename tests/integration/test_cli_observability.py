"""``turnout worker --metrics-port --health-port --log-format json`` and ``turnout status``, run
as a user runs them: subprocesses, on SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.integration.test_cli import ROOT, ok
from turnout.testing.servers import free_port

MODULE = "tests.observability_workflows"


def _get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read().decode()


@pytest.mark.timeout(120)
def test_worker_serves_metrics_health_and_json_logs_and_status_shows_the_queue(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TURNOUT_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    metrics_port, health_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "turnout", "worker", MODULE, "--task-queue", queue,
         "--metrics-port", str(metrics_port), "--health-port", str(health_port),
         "--log-format", "json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    # The worker's stderr is read all along, so that it never blocks on a full pipe.
    seen: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "worker ready" in line:
                ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(seen)

        started = json.loads(
            ok("start", "ObservedWorkflow", "-q", queue, "-i", '"cli"', "--json", env=env)
        )
        assert ok("result", started["workflow_id"], env=env).strip() == '"cli"'

        status, text = _get(metrics_port, "/metrics")
        assert status == 200
        assert f'turnout_claims_total{{kind="workflow_task",task_queue="{queue}"}} 2.0' in text
        assert f'turnout_claims_total{{kind="activity_task",task_queue="{queue}"}} 1.0' in text
        assert 'turnout_runs{state="completed"} 1.0' in text
        status, body = _get(health_port, "/readyz")
        assert status == 200
        assert json.loads(body)["status"] == "ready"

        shown = ok("status", "--once", env=env)
        assert queue in shown
        assert "recent failures" in shown
        snap = json.loads(ok("status", "--once", "--json", env=env))
        assert [q["task_queue"] for q in snap["queues"]] == [queue]
        assert snap["runs"] == {"completed": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    reader.join(timeout=30)
    assert proc.stderr is not None
    proc.stderr.close()
    logs = [json.loads(line) for line in seen if line.startswith("{")]
    activity_lines = [line for line in logs if line["logger"] == "turnout.activity"]
    assert activity_lines, logs
    assert activity_lines[0]["workflow_id"] == started["workflow_id"]
    assert activity_lines[0]["run_id"] == started["run_id"]
    assert activity_lines[0]["correlation_id"]
    assert activity_lines[0]["attempt"] == 1


@pytest.mark.timeout(60)
async def test_a_port_that_cannot_be_served_names_its_option() -> None:
    import socket

    from turnout.cli._errors import Failed
    from turnout.cli._worker import worker_observability

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Failed, match=f"--health-port: cannot listen on 127.0.0.1:{port}"):
            async with worker_observability(None, None, None, port):
                pass
    # An OSError of the worker itself is not the option's.
    with pytest.raises(OSError, match="the disk is full"):
        async with worker_observability(None, None, None, 0):
            raise OSError("the disk is full")
