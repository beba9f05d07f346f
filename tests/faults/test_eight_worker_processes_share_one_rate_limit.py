"""Promise: at-least-once processing without a 429 storm when many worker processes share one HubSpot
portal's rate limit.

The portal allows 25 calls per rolling 10 s (and 5 searches a second); the workers are given a budget
of 20 (and 4), shared through Redis. Two ``crmsync worker`` nodes of four processes each (eight) sync
40 people with up to eight sync tasks at once. HubSpot answers no 429 at all, no rolling window holds
more of the workers' calls than the budget, and both CRMs converge with one record per person per side."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sandbox.hubspot.errors import RateLimitedError
from sandbox.hubspot.limits import RateLimitTier
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import Workload, assert_converged, sf_api, wait_first_polls

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PORTAL_PER_10S, BUDGET_PER_10S = 25, 20
TEST_APP, TEST_TOKEN = 4242, "pat-na1-faults-workload"


class Calls:
    """The workers' calls as the portal's limiter saw them: the times (sandbox clock, ms) of those it
    accepted, and the policy of each 429 it answered. The test's own calls go through another app."""

    def __init__(self, box: HubSpotSandbox) -> None:
        self.accepted: list[int] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        limiter = box.portal.limiter
        real = limiter.check

        def counted(*args: Any, app_id: int = 0, **kwargs: Any) -> dict[str, str]:
            if app_id == TEST_APP:
                return real(*args, app_id=app_id, **kwargs)
            try:
                headers = real(*args, app_id=app_id, **kwargs)
            except RateLimitedError as exc:
                with self._lock:
                    self.refused.append(str(exc.body().get("policyName")))
                raise
            with self._lock:
                self.accepted.append(limiter.clock.now_ms())
            return headers

        limiter.check = counted  # type: ignore[method-assign]

    def busiest(self, window_ms: int) -> int:
        """The most calls that arrived within ``window_ms`` of each other."""
        times, most, start = sorted(self.accepted), 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window_ms:
                start += 1
            most = max(most, end - start + 1)
        return most


def test_eight_processes_keep_to_the_shared_budget_and_converge(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    hs_box.configure(tier=RateLimitTier(per_ten_seconds=PORTAL_PER_10S, daily=None, search_per_second=5))
    hs_box.backend.auth.private_tokens[TEST_TOKEN] = (hs_box.portal.id, TEST_APP)  # the 10 s limit is per app
    faults.env.update(
        {
            "CRMSYNC_HUBSPOT_BUDGET_PER_10S": str(BUDGET_PER_10S),
            "CRMSYNC_HUBSPOT_SEARCH_PER_SECOND": "4",
            "CRMSYNC_HUBSPOT_POLL_SECONDS": "3",
            "CRMSYNC_SYNC_FANOUT": "8",
            "CRMSYNC_SYNC_BATCH_SIZE": "5",
        }
    )
    faults.start("beat")
    nodes = [faults.start("worker", "-c", "4", "-n", f"crmsync-{n}@%h") for n in range(2)]
    wait_first_polls(redis_client, timeout=90)
    wait_until("both nodes ready", lambda: all("ready." in faults.log_of(n) for n in nodes), timeout=60)
    calls = Calls(hs_box)  # after the nodes' start-up map checks, which run before the limiter exists
    work = Workload(sf_api(sf_box), hs_box.client(TEST_TOKEN))
    work.make(leads=30, contacts=10)
    assert_converged(sf_box, hs_box, redis_client, work, timeout=240)

    assert not calls.refused, f"HubSpot answered {len(calls.refused)} calls 429: {calls.refused}"
    # the portal counts a call when it arrives, the limiter holds its slot from the grant until a
    # window after the answer: no 10 s of arrivals holds more than the budget, however late calls leave
    busiest = calls.busiest(window_ms=10_000)
    assert busiest <= BUDGET_PER_10S, busiest
    assert busiest >= BUDGET_PER_10S * 0.8, busiest  # the budget was what held the workers back
    # every node's processes took part
    for node in nodes:
        assert "sync: " in faults.log_of(node), "a worker node synced nobody"
