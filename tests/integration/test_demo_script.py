"""``./scripts/demo`` as a user runs it a second time: nothing to install, no network
needed, and a closing hint that works from wherever the user is."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo"

# No package index can be reached: pip finds nothing, and anything that would reach out
# through a proxy is sent to a closed port.
OFFLINE = {
    "PIP_NO_INDEX": "1",
    "PIP_FIND_LINKS": "",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNOUT_", "PIP_"))}
    # The repository's own environment has turnout from this checkout installed: a warm
    # run finds it there, as it finds .venv-demo after a first run.
    env["TURNOUT_DEMO_VENV"] = str(ROOT / ".venv")
    return {**env, **OFFLINE}


def test_a_warm_demo_installs_nothing_needs_no_network_and_its_hint_works_anywhere(
    tmp_path: Path,
) -> None:
    hints = []
    for _ in range(2):
        done = subprocess.run(
            [str(DEMO)], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "installing" not in done.stderr, done.stderr
        assert "approved by" in done.stdout
        hint = re.search(r"^see it again: (.+?) {3}\(or: ", done.stdout, re.M)
        assert hint is not None, done.stdout
        hints.append(hint.group(1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    shown = subprocess.run(
        shlex.split(hints[-1]), cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "workflow_completed" in shown.stdout
    assert not (elsewhere / "turnout.db").exists()


def test_the_demo_installs_the_base_package_and_the_test_script_the_extras() -> None:
    demo = DEMO.read_text(encoding="utf-8")
    installs = [line for line in demo.splitlines() if "pip install" in line]
    assert installs, demo
    assert all("[" not in line and '-e "$root"' in line for line in installs), installs
    assert ".venv-demo" in demo
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    assert "[postgres,temporal,dev]" in bootstrap
    assert "bootstrap" in (ROOT / "scripts" / "test").read_text(encoding="utf-8")
