"""``crmsync web`` as operators run it: separate processes sharing one Redis share the event dedupe,
``--workers`` keeps every limit, a bad configuration is refused with its message, and nothing the
processes print holds a configured secret."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from sandbox.salesforce.ids import make_id
from sandbox.salesforce.server import free_port
from tests.secretscan import SCAN
from worker.cli import app

from .hubspot_requests import SECRET, event, post

pytestmark = pytest.mark.integration
CALLOUT_SECRET = "callout-secret-for-process-tests-0123"
ORG = make_id("00D", 1)


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    env.update(
        CRMSYNC_WEB_REDIS_URL=redis_url,
        CRMSYNC_HUBSPOT_APP_SECRET=SECRET,
        CRMSYNC_WEB_CALLOUT_SECRET=CALLOUT_SECRET,
        CRMSYNC_WEB_SALESFORCE_ORG_ID=ORG,
        **extra,
    )
    return env


@contextmanager
def crmsync_web(env: dict[str, str], *args: str) -> Iterator[tuple[str, list[str]]]:
    """Run ``crmsync web`` on a free port until /healthz answers; yields its base URL and, after
    exit, its combined output lines."""
    port = free_port()
    command = [sys.executable, "-c", "from worker.cli import main; main()", "web", "--port", str(port), *args]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"crmsync web did not start: {proc.communicate()[0]}")
            time.sleep(0.1)
        yield base, output
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        output.extend(out.splitlines())
        SCAN.watch_text(out, "output of crmsync web", env)


@pytest.mark.slow
def test_two_processes_share_the_event_dedupe(redis_client: Any, redis_url: str) -> None:
    env = _env(redis_url)
    with crmsync_web(env) as (a, out_a), crmsync_web(env) as (b, out_b):
        first = event(7, 501, propertyName="lifecyclestage")
        r1 = post(a + "/webhooks/hubspot", [first])
        assert r1.json()["queued"] == 1
        redis_client.delete("crmsync:dirty:hubspot:contacts")  # the sync took it
        # HubSpot's retry of the same event lands on the other process: recorded once
        r2 = post(b + "/webhooks/hubspot", [{**first, "attemptNumber": 1}])
        assert r2.json() == {**r2.json(), "queued": 0, "duplicates": 1}
        assert redis_client.scard("crmsync:dirty:hubspot:contacts") == 0
        health = requests.get(b + "/healthz").json()
        assert health == {
            "status": "ok",
            "receivers": ["hubspot", "salesforce-outbound", "salesforce-callout"],
        }
        # wrong secrets, then the right ones, so the logs have every chance to show them
        assert post(a + "/webhooks/hubspot", [first], secret="not-it").status_code == 401
        headers = {"Authorization": f"Bearer {CALLOUT_SECRET}"}
        change = {"changes": [{"object": "Lead", "id": make_id("00Q", 1)}]}
        assert (
            requests.post(b + "/webhooks/salesforce/changes", json=change, headers=headers).status_code == 200
        )
        bad = {"Authorization": f"Bearer {CALLOUT_SECRET[:-1]}"}
        assert requests.post(b + "/webhooks/salesforce/changes", json=change, headers=bad).status_code == 401
    logs = "\n".join(out_a + out_b)
    assert "POST /webhooks/hubspot" in logs  # the access log was captured
    assert SECRET not in logs and CALLOUT_SECRET not in logs


@pytest.mark.slow
def test_workers_keep_the_limits(redis_url: str) -> None:
    env = _env(redis_url, CRMSYNC_WEB_HEADER_TIMEOUT_S="0.5", CRMSYNC_WEB_MAX_BODY_BYTES="2048")
    with crmsync_web(env, "--workers", "2") as (base, _):
        for i in range(10):
            assert post(base + "/webhooks/hubspot", [event(i, 600 + i)]).status_code == 200
        big = post(base + "/webhooks/hubspot", [event(i, 600 + i) for i in range(50)])
        assert big.status_code == 413
        port = int(base.rsplit(":", 1)[1])
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        started = time.monotonic()
        for sock in socks:
            sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x")
        for sock in socks:
            assert sock.recv(100) == b""  # closed by whichever worker holds it
        assert time.monotonic() - started < 3


def test_no_receiver_configured_is_refused_with_the_settings_to_set(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    result = CliRunner().invoke(app, ["web"], env={**env, "CRMSYNC_WEB_REDIS_URL": redis_url})
    assert result.exit_code == 2
    assert "CRMSYNC_HUBSPOT_APP_SECRET" in result.output and "CRMSYNC_WEB_CALLOUT_SECRET" in result.output


def test_a_short_callout_secret_is_refused_without_echoing_it(redis_url: str) -> None:
    result = CliRunner().invoke(
        app, ["web"], env={"CRMSYNC_WEB_REDIS_URL": redis_url, "CRMSYNC_WEB_CALLOUT_SECRET": "tiny-secret"}
    )
    assert result.exit_code == 2 and "callout_secret" in result.output
    assert "tiny-secret" not in result.output
