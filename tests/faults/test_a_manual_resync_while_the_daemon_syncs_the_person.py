"""Promise: effectively-once effects when an operator's ``crmsync resync`` and the daemon sync the same
person at the same time: one lock, no lost and no doubled write.

The daemon's HubSpot create for a new lead is held 8 s by the sandbox (the worker holds the person's
lock meanwhile) while ``crmsync resync --sf LEAD`` runs as a process. Without a lock wait it answers
busy (exit 3) and writes nothing; with ``CRMSYNC_SYNC_LOCK_WAIT_S`` it waits for the daemon, then finds
the person in sync and writes nothing (exit 0). Either way the lead has exactly one HubSpot contact,
created once (one audited create), and no change is audited twice."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import ROOT
from tests.e2e.conftest import CRMSYNC, Service, wait_until
from tests.faults.conftest import Workload, assert_converged, audited_twice, sf_api, start_daemon
from worker.state.audit import AuditLog

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
UPSERT = "/crm/v3/objects/contacts/batch/upsert"


def _resync_during_the_daemons_create(
    faults: Service, work: Workload, n: int, hs_box: HubSpotSandbox, lock_wait_s: int
) -> tuple[int, dict[str, Any]]:
    hs_box.arm_fault(path_prefix=UPSERT, delay_ms=8000, count=1)
    email = f"lead{n}.{work.tag}@example.com"
    lead = work.leads[email] = work.sf.Lead.create(
        {"LastName": f"Lead{n}", "Company": "Faults", "Email": email, "Status": "Working"}
    )["id"]
    wait_until("the daemon's create in flight", lambda: not hs_box.backend.faults, timeout=60, every=0.05)
    done = subprocess.run(
        [CRMSYNC, "resync", "--sf", lead, "--json"],
        check=False,
        env={**faults.env, "CRMSYNC_SYNC_LOCK_WAIT_S": str(lock_wait_s)},
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.stdout, done.stderr.decode(errors="replace")[-2000:]
    return done.returncode, json.loads(done.stdout)


def test_a_resync_racing_the_daemon_for_one_person_writes_once(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    start_daemon(faults, redis_client)
    work = Workload(sf_api(sf_box), hs_box.client())

    code, doc = _resync_during_the_daemons_create(faults, work, 0, hs_box, lock_wait_s=0)
    assert code == 3, doc
    assert [p["disposition"] for p in doc["people"]] == ["busy"] and not doc["people"][0]["written"], doc

    code, doc = _resync_during_the_daemons_create(faults, work, 1, hs_box, lock_wait_s=30)
    assert code == 0, doc
    assert [p["disposition"] for p in doc["people"]] == ["synced"] and not doc["people"][0]["written"], doc

    assert_converged(sf_box, hs_box, redis_client, work)
    creates = [e for e in AuditLog(redis_client).entries() if e.op == "create" and e.side == "hubspot"]
    assert len({e.record for e in creates}) == len(work.leads) == 2
    assert not audited_twice(redis_client)
