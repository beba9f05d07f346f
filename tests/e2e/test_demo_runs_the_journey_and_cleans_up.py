"""``crmsync demo``, the README's first command: both sandboxes, a Redis, a worker and a beat, the whole
journey synced step by step with the audit's reasons, and nothing left running or listening afterwards."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import CRMSYNC

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_with(marker: str) -> list[int]:
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_the_demo_syncs_every_step_and_leaves_nothing_behind() -> None:
    done = subprocess.run(
        [CRMSYNC, "demo"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=400
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "done: 9 steps" in out
    assert "lifecyclestage 'marketingqualifiedlead' → 'salesqualifiedlead'" in out
    assert "(move_back; field stage: changed on Salesforce)" in out  # the recycle's clear-then-set
    assert "Lead_Stage__c 'Opportunity' → 'Customer'" in out and "rule opportunity_won" in out
    assert "phone '222' → '111'" in out and "salesforce wins (newest_wins)" in out  # the conflict, explained
    assert "stopped worker and beat" in out

    redis_port = int(re.search(r"127\.0\.0\.1:(\d+)", out.split("redis:", 1)[1]).group(1))  # type: ignore[union-attr]
    ports = [redis_port, *(int(p) for p in re.findall(r"sandbox: +https?://127\.0\.0\.1:(\d+)", out))]
    assert len(ports) == 3
    assert not [p for p in ports if _listening(p)]
    assert _processes_with(f"redis://127.0.0.1:{redis_port}/0") == []
