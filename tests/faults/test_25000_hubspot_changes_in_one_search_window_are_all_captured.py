"""Promise: nothing lost when one poll window holds more changes than HubSpot's search will page through.

HubSpot's CRM search answers at most 10,000 results per query: asking for a page past them is a 400.
25,000 contacts are imported (the sandbox's seed control, one bulk load spread over a second or two,
about a dozen sharing each millisecond) after the poller's cursor, so one poll window holds all of them.
The sandbox refuses the 10,000th offset as HubSpot does (checked here with the real client); the poller
pages each query from the last key read instead, never near the ceiling, and marks every one of the
25,000 contacts dirty exactly once (the polls' counts add up to 25,000).

Only the ``signals`` queue is consumed (polls and dispatch): nothing syncs, so the dirty set shows what
the polls captured."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import pytest
import requests
from hubspot.crm.contacts import ApiException

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from worker.state.dirty import DirtySet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHANGES = 25_000
CEILING = 10_000
SEEN = re.compile(r"poll hubspot: \{'contacts': (\d+)")


def test_25000_changes_in_one_hubspot_search_window_are_each_marked_once(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    faults.env.update(
        {
            "CRMSYNC_SALESFORCE_ENABLED": "false",
            "CRMSYNC_HUBSPOT_SEARCH_PER_SECOND": "5",  # HubSpot's own search limit
            "CRMSYNC_TASK_SOFT_TIME_LIMIT": "120",
            "CRMSYNC_TASK_TIME_LIMIT": "150",
            "CRMSYNC_VISIBILITY_TIMEOUT": "300",
        }
    )
    faults.start("beat")
    worker = faults.start("worker", "-c", "1", "-Q", "signals")
    wait_until("the first poll", lambda: redis_client.exists("crmsync:cursor:hubspot:contacts"), timeout=60)
    start_ms = int(json.loads(redis_client.get("crmsync:cursor:hubspot:contacts"))["cursor"].split(":")[0])
    time.sleep(1.5)
    before = set(hs_box.portal.stores["contacts"].records)
    span = min(5_000, hs_box.portal.clock.now_ms() - start_ms - 100)
    answer = requests.post(
        f"{hs_box.base_url}/_sandbox/seed", json={"contacts": CHANGES, "span_ms": span}, timeout=120
    )
    assert answer.status_code == 200, answer.text
    seeded = {str(i) for i in set(hs_box.portal.stores["contacts"].records) - before}
    assert len(seeded) == CHANGES

    # one query over the window matches all of them, and HubSpot's ceiling stops an offset pager
    search = hs_box.client().crm.contacts.search_api
    window = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(start_ms)}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 200,
    }
    wait_until("the import searchable", lambda: search.do_search(window).total >= CHANGES, timeout=30)
    with pytest.raises(ApiException) as refused:
        search.do_search({**window, "after": str(CEILING)})
    assert refused.value.status == 400

    dirty = DirtySet(redis_client, "hubspot")
    wait_until(
        "every imported contact marked dirty",
        lambda: seeded <= dirty.members("contacts"),
        timeout=180,
        every=1.0,
    )
    time.sleep(3)  # a few more polls: nothing is delivered again
    assert sum(int(n) for n in SEEN.findall(faults.log_of(worker))) == CHANGES
    assert dirty.members("contacts") == seeded
    # the next polls re-read the 25,000 in their lookback (each found delivered already): end them now
    # rather than wait for a warm shutdown
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
