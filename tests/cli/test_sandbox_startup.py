"""``crmsync sandbox …`` start-up: a port problem is one line before any banner, ``--port 0`` tells
the port it got, and the Salesforce sandbox removes its key folder when it is stopped."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import BIN, clean_env, crmsync

SANDBOXES = ["salesforce", "hubspot"]


@pytest.mark.parametrize("kind", SANDBOXES)
def test_a_port_in_use_is_refused_before_any_banner(kind: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = crmsync("sandbox", kind, "--port", str(port))
    assert run.code == 2
    assert run.out == ""
    assert f"port {port} on 127.0.0.1 is in use" in run.message


@pytest.mark.parametrize("kind", SANDBOXES)
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--port", "99999", "Invalid value for '--port': Input should be less than or equal to 65535"),
        ("--port", "-1", "Invalid value for '--port': Input should be greater than or equal to 0"),
        ("--seed", "-5", "Invalid value for '--seed': Input should be greater than or equal to 0"),
    ],
)
def test_out_of_range_numbers_are_refused(kind: str, option: str, value: str, message: str) -> None:
    run = crmsync("sandbox", kind, option, value)
    assert run.code == 2
    assert run.out == ""
    assert message in run.message


@pytest.mark.parametrize("kind", SANDBOXES)
def test_port_0_prints_the_bound_port_and_a_stop_leaves_no_key_behind(kind: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(BIN), "sandbox", kind, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(TMPDIR=str(tmp_path)),
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"https?://127\.0\.0\.1:(\d+)", banner)
        assert found, banner
        port = int(found.group(1))
        assert port != 0
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        if kind == "salesforce":
            assert [p.name for p in tmp_path.iterdir() if p.name.startswith("sf-sandbox-")]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
