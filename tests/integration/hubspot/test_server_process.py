"""``crmsync sandbox hubspot`` as a process, and its HTTP control surface."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.integration
TOKEN = {"Authorization": "Bearer pat-na1-sandbox-0000"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_serves_seeds_and_obeys_the_control_surface() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from worker.cli import main; main()",
            "sandbox",
            "hubspot",
            "--port",
            str(port),
            "--seed",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"{base}/crm/v3/objects/contacts?limit=100", headers=TOKEN)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert (
            r.status_code == 200 and len(r.json()["results"]) == 100 and r.json()["paging"]["next"]["after"]
        )
        httpx.post(
            f"{base}/crm/v3/objects/contacts", headers=TOKEN, json={"properties": {"email": "x@y.com"}}
        )
        assert httpx.post(f"{base}/_sandbox/reset").status_code == 200  # back to the seeded start state
        assert httpx.post(f"{base}/_sandbox/seed", json={"contacts": 5}).json()["contacts"] == 125
        httpx.post(f"{base}/_sandbox/faults", json={"path_prefix": "/crm", "status": 503, "count": 1})
        assert httpx.get(f"{base}/crm/v3/objects/contacts", headers=TOKEN).status_code == 503
        assert httpx.get(f"{base}/crm/v3/objects/contacts", headers=TOKEN).status_code == 200
        tokens = httpx.post(f"{base}/_sandbox/oauth/tokens", json={"ttl_s": 60}).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{base}/crm/v3/objects/contacts", headers=bearer).status_code == 200
        httpx.post(f"{base}/_sandbox/clock", json={"advance_ms": 61_000})
        expired = httpx.get(f"{base}/crm/v3/objects/contacts", headers=bearer)
        assert expired.status_code == 401 and expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"HubSpot sandbox on {base}" in out
