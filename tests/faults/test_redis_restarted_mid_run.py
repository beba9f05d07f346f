"""Promise: at-least-once processing, effectively-once effects across a Redis restart.

A redis-server of the test's own (free port, append-only, fsync always) holds the state and the broker.
It is shut down while the daemon syncs and started again from its append-only file 3 s later; the
worker and the beat reconnect on their own (nobody restarts the beat; the worker only when kombu's Redis
transport died of its known ack race, as its supervisor would), and both CRMs converge with no
duplicate record."""

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
    after_broker_outage,
    assert_converged,
    sf_api,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_both_crms_converge_across_a_redis_restart(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, own_redis: OwnRedis, tmp_path: Path
) -> None:
    state: Any = redis.Redis.from_url(own_redis.url)
    with running(sf_box, hs_box, own_redis.url, tmp_path) as svc:
        svc.env.update({**FAST_RECOVERY, "CRMSYNC_BROKER_URL": own_redis.url.replace("/0", "/1")})
        beat = svc.start("beat")
        worker = svc.start("worker", "-c", "2")
        wait_until(
            "the first polls",
            lambda: state.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
            timeout=60,
        )
        hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/upsert", delay_ms=1500, count=2)
        work = Workload(sf_api(sf_box), hs_box.client())
        work.make(leads=20, contacts=5)
        wait_until("a create in flight", lambda: len(hs_box.backend.faults) < 2, timeout=60, every=0.05)
        own_redis.stop()
        time.sleep(3)
        own_redis.start()
        after_broker_outage(svc, worker)
        assert_converged(sf_box, hs_box, state, work)
        # celery-redbeat's own scheduler ended `crmsync beat` here; worker.beat keeps it running
        assert beat.poll() is None, "the beat exited when Redis went away"
