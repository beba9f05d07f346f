"""A backfill of 20,000 people through a real Celery worker: SIGKILLed mid-way, resumed from its
checkpoint by another worker, nothing lost (every lead linked to exactly one HubSpot contact, every
person's base stored) and nothing doubled (one contact per lead, at most one create per person in the
audit, counters equal to the scope); a second backfill of the same scope writes nothing."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from worker.ops.backfill import BackfillStore
from worker.state.store import State

from .conftest import Crmsync, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PEOPLE = 20_000


def test_a_20000_person_backfill_survives_a_sigkill_and_a_second_run_writes_nothing(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State, workers: Service
) -> None:
    seed_org(sf_box.org, PEOPLE)
    # the killed worker's person locks expire after this; the resumed chunks wait them out
    crmsync.env["CRMSYNC_SYNC_LOCK_TTL_S"] = workers.env["CRMSYNC_SYNC_LOCK_TTL_S"] = "15"
    leads = sf_box.org.stores["Lead"].records
    assert len(leads) == PEOPLE
    first = start_worker(workers, concurrency=2)
    started = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "200", "--detach")
    assert started.exit_code == 0, started.output
    bid = started.stdout.strip()
    store = BackfillStore(state.redis)

    def progress() -> int:
        b = store.get(bid)
        return b.done if b is not None else 0

    wait_until("a quarter of the backfill", lambda: progress() >= PEOPLE // 4, timeout=240, every=0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool children, mid-chunk
    first.wait(timeout=10)
    at_kill = store.get(bid)
    assert at_kill is not None and at_kill.state in ("enumerating", "running") and at_kill.done < PEOPLE

    start_worker(workers, concurrency=2)
    resumed = crmsync("backfill", "resume", bid, "--json")
    assert resumed.exit_code == 0, resumed.output
    final = json.loads(resumed.stdout.splitlines()[-1])
    assert (final["state"], final["done"], final["total"], final["errors"]) == ("done", PEOPLE, PEOPLE, 0)

    contacts = hs_box.portal.stores["contacts"].records.values()
    assert len(contacts) == PEOPLE  # nothing doubled
    by_email = Counter(str(c.props.get("email")) for c in contacts)
    assert max(by_email.values()) == 1
    lead_ids = {str(r["Id"]): str(r.get("HubSpot_Contact_ID__c") or "") for r in leads.values()}
    assert all(lead_ids.values())  # nothing lost: every lead links to its contact
    assert len(set(lead_ids.values())) == PEOPLE
    assert len(state.bases.get_many([f"sf:Lead:{i}" for i in lead_ids])) == PEOPLE
    created: dict[str, set[str]] = {}
    for e in state.audit.entries(run=bid):
        if e.op == "create" and e.side == "hubspot":
            created.setdefault(e.person, set()).add(e.record)
    assert created and {len(records) for records in created.values()} == {1}  # one contact each

    again = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "200", "--json")
    second = json.loads(again.stdout.splitlines()[-1])
    assert (second["state"], second["done"], second["writes"], second["errors"]) == ("done", PEOPLE, 0, 0)
    assert len(hs_box.portal.stores["contacts"].records) == PEOPLE
