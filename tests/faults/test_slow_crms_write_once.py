"""Promise: effectively-once effects when the CRMs answer slower than the worker waits.

With the adapters' request timeouts cut to 2 s, both sandboxes hold some calls for 4 s and then handle
them (a write commits after its sender gave up): HubSpot's create upserts, batch updates and searches,
Salesforce's composite writes and queries. Every timed-out write is an ``unknown`` result, read back
before anything is sent again. Both CRMs converge with one record per person per side, and no change
is audited twice (no value written twice to one field of one record)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import Workload, assert_converged, audited_twice, sf_api, start_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TIMEOUT_S, DELAY_MS = 2, 4000


def test_calls_slower_than_the_timeout_write_each_change_once(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    env = {
        "CRMSYNC_HUBSPOT_REQUEST_TIMEOUT_S": str(TIMEOUT_S),
        "CRMSYNC_SALESFORCE_TIMEOUT_SECONDS": str(TIMEOUT_S),
    }
    start_daemon(faults, redis_client, **env)
    for prefix in (
        "/crm/v3/objects/contacts/batch/upsert",
        "/crm/v3/objects/contacts/batch/update",
        "/crm/v3/objects/contacts/search",
    ):
        hs_box.arm_fault(path_prefix=prefix, delay_ms=DELAY_MS, count=2)
    sf_box.add_fault("slow", path="/composite/sobjects", delay=DELAY_MS / 1000, times=3)
    sf_box.add_fault("slow", path="/query", delay=DELAY_MS / 1000, times=2)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=12, contacts=6)
    wait_until(
        "every slow call made",
        lambda: not hs_box.backend.faults and not sf_box.org.faults,
        timeout=120,
    )
    assert_converged(sf_box, hs_box, redis_client, work)
    assert not audited_twice(redis_client)
