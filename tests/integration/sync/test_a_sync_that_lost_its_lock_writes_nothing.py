"""A person's lock expires while a slow batch still holds the person in memory: the fencing token must
stop the stale worker before its CRM writes, not only at the base (review of the sync service)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from tests.integration.sandboxes import hs_settings, sf_settings
from worker.crm.hubspot import HubSpotAdapter
from worker.crm.salesforce import SalesforceAdapter
from worker.mapping import load_map
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService, SyncSettings

pytestmark = pytest.mark.integration

HS_READ = "/crm/v3/objects/contacts/batch/read"


def short_lock_service(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State) -> SyncService:
    short = State.connect(state.redis, lock_ttl_s=0.4)
    return SyncService(
        load_map(MAPPINGS / "default.yaml"),
        SalesforceAdapter(sf_settings(sf_box)),
        HubSpotAdapter(hs_settings(hs_box)),
        short,
        SyncSettings(lock_ttl_s=0.4),
    )


@pytest.fixture
def qualified(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> tuple[str, str, SyncService]:
    """A synced lead qualified in Salesforce since (lead id, contact id), and a service whose person
    locks expire after 0.4 s."""
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    sf_box.org.update("Lead", lead, {"Status": "Qualified"}, sf_box.org.admin_id)
    return lead, cid, short_lock_service(sf_box, hs_box, state)


def test_a_worker_whose_lock_was_taken_over_mid_batch_sends_no_write(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    qualified: tuple[str, str, SyncService],
) -> None:
    lead, cid, slow = qualified
    hs_box.arm_fault(path_prefix=HS_READ, delay_ms=1200, count=1)  # the read outlasts the 0.4 s lock
    key = f"sf:Lead:{lead}"
    person = state.links.person_of([key])[key]
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=lambda: outcome.update(o=slow.sync_one(key, Run.new("test"))))
    thread.start()
    deadline = time.monotonic() + 10
    while state.locks.holder(person) is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert state.locks.holder(person) is not None  # the slow worker holds the person
    taken = None
    while taken is None and time.monotonic() < deadline:  # a second worker takes the expired lock
        taken = state.locks.try_acquire(person, ttl_s=30)
        time.sleep(0.02)
    assert taken is not None
    thread.join()
    got = outcome["o"]
    assert getattr(got, "disposition") is Disposition.RETRY  # noqa: B009
    assert "lock" in getattr(got, "detail")  # noqa: B009
    props = hs_box.portal.stores["contacts"].records[int(cid)].props
    assert props["lifecyclestage"] != "salesqualifiedlead"  # the stale worker wrote nothing
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Marketing Qualified Lead"
    assert state.locks.holder(person) == taken.token


def test_a_batch_slower_than_the_lock_ttl_keeps_its_lock_by_extending_it(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    qualified: tuple[str, str, SyncService],
) -> None:
    lead, cid, slow = qualified
    # the read and the write each take most of the 0.4 s lock: together they outlast it
    hs_box.arm_fault(path_prefix=HS_READ, delay_ms=300, count=1)
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/update", delay_ms=300, count=1)
    key = f"sf:Lead:{lead}"
    person = state.links.person_of([key])[key]
    done = threading.Event()
    contender: list[int] = []

    def contend() -> None:  # another worker wants the person the whole time it is being synced
        while state.locks.holder(person) is None and not done.is_set():
            time.sleep(0.005)
        while not done.is_set():
            lease = state.locks.try_acquire(person, ttl_s=30)
            if lease is not None:
                contender.append(lease.token)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=contend)
    thread.start()
    outcome = slow.sync_one(key, Run.new("test"))
    done.set()
    thread.join()
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    props = hs_box.portal.stores["contacts"].records[int(cid)].props
    assert props["lifecyclestage"] == "salesqualifiedlead"
