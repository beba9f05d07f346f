"""The sync task's loop (``worker.drain``) over the real service, sandboxes and Redis: a synced key's
lease is dropped; a transient failure keeps the key leased for a backoff and is dead-lettered after the
last attempt; a person another worker holds goes straight back to the dirty set, the attempt not
counted."""

from __future__ import annotations

import time
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import make_service
from worker.drain import DrainPolicy, drain
from worker.state.dirty import DirtySet
from worker.state.runtime import TaskAttempts
from worker.state.store import State
from worker.sync import Run, SyncService

pytestmark = pytest.mark.integration
POLICY = DrainPolicy(batch_size=10, lease_s=60, max_attempts=2, backoff_s=0.3, backoff_max_s=1, budget_s=5)


@pytest.fixture
def service(boxes: tuple[SalesforceSandbox, HubSpotSandbox], state: State) -> SyncService:
    return make_service(*boxes, state, hs={"backoff_max_s": 0.05, "max_attempts": 2})


def _dirty_lead(sf_api: Salesforce, state: State) -> str:
    lead_id = str(
        sf_api.Lead.create({"LastName": "Lovelace", "Company": "Engines", "Email": "ada@example.com"})["id"]
    )
    state.dirty("salesforce").add("Lead", [lead_id])
    return lead_id


def test_a_synced_key_leaves_both_the_set_and_its_lease(
    service: SyncService, state: State, sf_api: Salesforce, redis_client: Any
) -> None:
    _dirty_lead(sf_api, state)
    report = drain(service, state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)
    assert report.by_disposition == {"synced": 1} and report.writes > 0
    dirty: DirtySet = state.dirty("salesforce")
    assert dirty.size("Lead") == 0 and dirty.leased("Lead") == {}


def test_a_transient_failure_backs_off_then_is_dead_lettered_after_the_last_attempt(
    service: SyncService, state: State, sf_api: Salesforce, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    lead_id = _dirty_lead(sf_api, state)
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch", status=503, count=1000)
    attempts = TaskAttempts(redis_client)
    dirty = state.dirty("salesforce")

    first = drain(service, state.dirty, attempts, Run.new("test"), POLICY)
    assert first.by_disposition == {"retry": 1}
    assert set(dirty.leased("Lead")) == {lead_id}  # held for the backoff, not back in the set at once
    assert dirty.size("Lead") == 0

    time.sleep(POLICY.backoff_s + 0.2)
    second = drain(service, state.dirty, attempts, Run.new("test"), POLICY)
    assert second.dead_lettered_after_retries == 1
    letter = state.dead.get(f"sf:Lead:{lead_id}")
    assert letter is not None and letter.reason == "retries_exhausted" and "2 attempts" in letter.detail
    assert dirty.size("Lead") == 0 and dirty.leased("Lead") == {}


def test_a_person_held_by_another_worker_goes_back_at_once_without_costing_an_attempt(
    service: SyncService, state: State, sf_api: Salesforce, redis_client: Any
) -> None:
    lead_id = _dirty_lead(sf_api, state)
    held = state.locks.try_acquire(f"sf:Lead:{lead_id}")
    assert held is not None
    report = drain(service, state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)
    assert report.by_disposition.get("busy", 0) >= 1 and "synced" not in report.by_disposition
    assert state.dirty("salesforce").members("Lead") == {lead_id}
    assert int(redis_client.get(f"crmsync:attempts:key:sf:Lead:{lead_id}") or 0) == 0


class _Interrupted:
    """Stands in for the service when the task's soft time limit fires mid-batch."""

    def sync_batch(self, keys: list[str], run: Run) -> None:
        from celery.exceptions import SoftTimeLimitExceeded

        raise SoftTimeLimitExceeded()


def test_a_batch_interrupted_mid_sync_returns_its_keys_at_once(state: State, redis_client: Any) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    state.dirty("salesforce").add("Lead", ["00Q5g0000000001EAA", "00Q5g0000000002EAA"])
    with pytest.raises(SoftTimeLimitExceeded):
        drain(_Interrupted(), state.dirty, TaskAttempts(redis_client), Run.new("test"), POLICY)  # type: ignore[arg-type]
    dirty = state.dirty("salesforce")
    assert dirty.size("Lead") == 2 and dirty.leased("Lead") == {}


def test_keys_of_a_person_whose_lead_was_deleted_settle_at_once_without_a_retry(
    service: SyncService, state: State, sf_api: Salesforce, hs_api: Any, redis_client: Any
) -> None:
    # the e2e scenario 8 (a lead deleted, then its contact edited), as the daemon's drain meets it
    lead_id = _dirty_lead(sf_api, state)
    attempts = TaskAttempts(redis_client)
    assert drain(service, state.dirty, attempts, Run.new("live"), POLICY).by_disposition == {"synced": 1}
    contact_id = str(sf_api.Lead.get(lead_id)["HubSpot_Contact_ID__c"])
    sf_api.Lead.delete(lead_id)
    hs_api.crm.contacts.basic_api.update(contact_id, {"properties": {"phone": "+1 555 0100"}})
    state.dirty("hubspot").add("contacts", [contact_id])  # the contact's change
    state.dirty("salesforce").add("Lead", [lead_id])  # the deletion, from sobjects/Lead/deleted
    report = drain(service, state.dirty, attempts, Run.new("live"), POLICY)
    assert report.by_disposition == {"synced": 2}
    for crm, obj in (("salesforce", "Lead"), ("hubspot", "contacts")):
        assert state.dirty(crm).size(obj) == 0 and state.dirty(crm).leased(obj) == {}
    assert sf_api.query("SELECT Id FROM Lead")["records"] == []  # not recreated
