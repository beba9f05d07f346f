"""Promise: at-least-once processing, effectively-once effects when Redis stops answering for a minute.

A redis-server of the test's own holds the state and the broker. It is frozen (SIGSTOP: connections
stay open and new ones are accepted, but nothing answers, as in a network partition) for 60 s while a
HubSpot create is in flight; people are also made in both CRMs during the outage. It is then thawed.
Nobody restarts anything: the worker and the beat carry on by themselves (the beat's lock expired
meanwhile and is taken again), the broker's visibility timeout stays at an hour so nothing depends on
redelivery, and both CRMs converge with no duplicate record and every create audited."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import running, wait_until
from tests.faults.conftest import (
    FAST_RECOVERY,
    OwnRedis,
    Workload,
    assert_converged,
    sf_api,
    start_daemon,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OUTAGE_S = 60


def test_both_crms_converge_after_redis_stops_answering_for_a_minute(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, own_redis: OwnRedis, tmp_path: Path
) -> None:
    state: Any = redis.Redis.from_url(own_redis.url)
    with running(sf_box, hs_box, own_redis.url, tmp_path) as svc:
        svc.env.update(
            {
                **FAST_RECOVERY,
                "CRMSYNC_VISIBILITY_TIMEOUT": "3600",
                "CRMSYNC_BROKER_URL": own_redis.url.replace("/0", "/1"),
            }
        )
        beat, worker = start_daemon(svc, state)
        hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/upsert", delay_ms=1500, count=2)
        work = Workload(sf_api(sf_box), hs_box.client())
        work.make(leads=15, contacts=3)
        wait_until("a create in flight", lambda: len(hs_box.backend.faults) < 2, timeout=60, every=0.05)
        own_redis.freeze()
        frozen_at = time.monotonic()
        late = Workload(work.sf, work.hs, tag=f"{work.tag}x")
        late.make(leads=5, contacts=2)  # changes made while Redis is away are captured afterwards
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - frozen_at)))
        own_redis.thaw()
        work.leads.update(late.leads)
        work.contacts.update(late.contacts)
        assert_converged(sf_box, hs_box, state, work)
        assert beat.poll() is None, "the beat exited during the outage"
        assert worker.poll() is None, "the worker exited during the outage"
        assert "beat: lock taken again" in svc.log_of(beat)  # it expired during the outage
