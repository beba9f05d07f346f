"""Promise: effectively-once effects with two schedulers: no doubled polls and no doubled writes.

Two ``crmsync beat`` processes are started at the same instant (a deployment that scaled the beat to
two, or a restart overlapping the old one). Exactly one takes the Redis lock and sends the schedule;
the other sends nothing while it waits. The worker receives each CRM's poll once per interval (not
twice), and both CRMs converge with one record per person per side and no change audited twice."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service
from tests.faults.conftest import Workload, assert_converged, audited_twice, sf_api, wait_first_polls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SENT = "Scheduler: Sending due task"
POLL_RECEIVED = re.compile(r"Task crmsync\.poll_hubspot\[[0-9a-f-]+\] received")


def test_two_beats_started_at_once_send_one_schedule(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    beats = [faults.start("beat"), faults.start("beat")]
    worker = faults.start("worker", "-c", "2")
    wait_first_polls(redis_client)
    started = time.monotonic()
    polls_before = len(POLL_RECEIVED.findall(faults.log_of(worker)))
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=10, contacts=5)
    assert_converged(sf_box, hs_box, redis_client, work)
    assert not audited_twice(redis_client)

    elapsed = time.monotonic() - started
    polls = len(POLL_RECEIVED.findall(faults.log_of(worker))) - polls_before
    # HubSpot is polled every second: one beat sends about one poll a second, two would send two
    assert polls <= elapsed * 1.3 + 3, (polls, round(elapsed))
    senders = [b for b in beats if SENT in faults.log_of(b)]
    assert len(senders) == 1, [faults.log_of(b)[-2000:] for b in beats]
    assert all(b.poll() is None for b in beats), "a beat exited"
