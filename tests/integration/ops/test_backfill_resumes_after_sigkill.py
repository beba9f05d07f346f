"""A backfill of 20,000 people through a real Celery worker: SIGKILLed mid-way, resumed from its
checkpoint by another worker, nothing lost (every lead linked to exactly one HubSpot contact, every
person's base stored) and nothing doubled (one contact per lead, at most one create per person in the
audit, counters equal to the scope); a second backfill of the same scope writes nothing."""

from __future__ import annotations

import json

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service
from worker.state.store import State

from .conftest import Crmsync, assert_each_lead_backfilled_once, lead_backfill_killed_mid_way, start_worker

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
    bid = lead_backfill_killed_mid_way(crmsync, workers, state.redis, PEOPLE)

    start_worker(workers, concurrency=2)
    resumed = crmsync("backfill", "resume", bid, "--json")
    assert resumed.exit_code == 0, resumed.output
    final = json.loads(resumed.stdout.splitlines()[-1])
    assert (final["state"], final["done"], final["total"], final["errors"]) == ("done", PEOPLE, PEOPLE, 0)

    assert_each_lead_backfilled_once(sf_box, hs_box, state, bid, PEOPLE)

    again = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "200", "--json")
    second = json.loads(again.stdout.splitlines()[-1])
    assert (second["state"], second["done"], second["writes"], second["errors"]) == ("done", PEOPLE, 0, 0)
    assert len(hs_box.portal.stores["contacts"].records) == PEOPLE
