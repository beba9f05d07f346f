"""Every backfill worker SIGKILLed mid-backfill (real Celery workers, beat running): a new worker
is started and nobody runs ``crmsync backfill resume``. The chunks the dead worker held lose their
leases, beat's backfill watch sends them again (the Redis broker itself would only redeliver them
after its one-hour visibility timeout), and the backfill completes with nothing lost or doubled."""

from __future__ import annotations

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from worker.ops.backfill import Backfill, BackfillStore
from worker.state.store import State

from .conftest import Crmsync, assert_each_lead_backfilled_once, lead_backfill_killed_mid_way, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PEOPLE = 1_500
SHORT = {
    "CRMSYNC_SYNC_LOCK_TTL_S": "5",  # the dead worker's person locks
    "CRMSYNC_BACKFILL_LEASE_SECONDS": "3",  # its chunks' leases
    "CRMSYNC_BACKFILL_WATCH_SECONDS": "1",
}


def test_a_backfill_whose_workers_all_died_completes_on_a_new_worker_without_a_resume(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State, workers: Service
) -> None:
    workers.env.update(SHORT)
    crmsync.env.update(SHORT)
    seed_org(sf_box.org, PEOPLE)
    workers.start("beat", CRMSYNC_SALESFORCE_ENABLED="false", CRMSYNC_HUBSPOT_ENABLED="false")
    bid = lead_backfill_killed_mid_way(crmsync, workers, state.redis, PEOPLE)

    start_worker(workers)
    store = BackfillStore(state.redis)

    def finished() -> Backfill | None:
        b = store.get(bid)
        return b if b is not None and b.state not in ("enumerating", "running") else None

    final = wait_until("the backfill to finish by itself", finished, timeout=300, every=0.5)
    assert (final.state, final.done, final.total, final.errors) == ("done", PEOPLE, PEOPLE, 0)
    assert final.resumed >= 1  # the dead worker's chunks were sent again by the watch
    assert_each_lead_backfilled_once(sf_box, hs_box, state, bid, PEOPLE)
