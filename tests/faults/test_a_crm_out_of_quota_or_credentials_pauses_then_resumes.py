"""Promise: nothing lost and nothing spinning when Salesforce stops serving us for long.

Salesforce's daily API allocation runs out mid-run, or its sessions expire and the re-login is refused
for good (the connected app's secret was rotated). That CRM's work pauses with a clear reason in
``crmsync:pause:salesforce`` (its TTL is the resume time), polls answer ``paused`` without a call,
the people waiting stay in the dirty set (never dead-lettered), and once the allocation or the password
is restored the daemon resumes on its own and converges."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import CONSUMER_KEY, Workload, assert_converged, sf_api
from worker.state.deadletters import DeadLetterStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PAUSE_S = 8


def _exhaust(box: SalesforceSandbox) -> Any:
    box.org.api_max = box.org.api_used

    def restore() -> None:
        box.org.api_max = 10**9

    return restore


def _lock_out(box: SalesforceSandbox) -> Any:
    app = box.org.connected_apps[CONSUMER_KEY]
    good = app["secret"]
    app["secret"] = "rotated-by-an-admin"
    box.org.sessions.clear()

    def restore() -> None:
        app["secret"] = good

    return restore


@pytest.mark.parametrize(
    ("cut", "reason"),
    [(_exhaust, ("REQUEST_LIMIT_EXCEEDED", "API_SHARE_EXHAUSTED")), (_lock_out, ("authentication failed",))],
    ids=["quota", "auth"],
)
def test_salesforce_work_pauses_with_its_reason_and_resumes_when_restored(
    faults: Service,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    redis_client: Any,
    cut: Any,
    reason: tuple[str, ...],
) -> None:
    env = {
        "CRMSYNC_SYNC_QUOTA_PAUSE_S": str(PAUSE_S),
        "CRMSYNC_SYNC_FATAL_PAUSE_S": str(PAUSE_S),
        # a refusal by our share of the allocation is re-probed with one call after this long
        "CRMSYNC_SALESFORCE_API_SHARE_RECHECK_SECONDS": str(PAUSE_S),
    }
    faults.start("beat", **env)
    worker = faults.start("worker", "-c", "2", **env)
    wait_until(
        "the first polls",
        lambda: redis_client.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
        timeout=60,
    )
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=0, contacts=8)  # HubSpot people that need Salesforce leads
    restore = cut(sf_box)
    why = wait_until("the Salesforce pause", lambda: redis_client.get("crmsync:pause:salesforce"), timeout=60)
    assert any(r.encode() in why for r in reason), why
    assert 0 < redis_client.pttl("crmsync:pause:salesforce") <= PAUSE_S * 1000

    # paused: polls make no call, nothing is dead-lettered, the people wait
    calls = sf_box.org.api_used
    wait_until("polls answering paused", lambda: faults.log_of(worker).count("'paused'") >= 2, timeout=30)
    assert sf_box.org.api_used == calls
    assert DeadLetterStore(redis_client).count() == 0

    restore()
    started = time.monotonic()
    assert_converged(sf_box, hs_box, redis_client, work)
    assert time.monotonic() - started < PAUSE_S * 12
