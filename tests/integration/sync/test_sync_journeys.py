"""The sync service end to end over both sandboxes and a real Redis: creation, qualification both ways,
a recycle through HubSpot's clear-then-set, conflicts, rejections, idempotent re-runs, leases, locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import make_service
from worker.state.dirty import Change, DirtySet, Event
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService

pytestmark = pytest.mark.integration


def lead_of(sf_box: SalesforceSandbox, lead: str) -> dict[str, Any]:
    return dict(sf_box.org.get("Lead", lead))


def contact_props(hs_box: HubSpotSandbox, cid: str) -> dict[str, str]:
    return dict(hs_box.portal.stores["contacts"].records[int(cid)].props)


def test_an_mql_in_hubspot_becomes_a_salesforce_lead_at_mql(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, state: State
) -> None:
    made = service.hs.create(
        {
            "h": {
                "email": "grace@example.com",
                "firstname": "Grace",
                "lastname": "Hopper",
                "lifecyclestage": "marketingqualifiedlead",
            }
        }
    )["h"]
    assert made.id is not None
    outcome = service.sync_one(f"hs:contacts:{made.id}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    [lead] = [r for r in sf_box.org.stores["Lead"].records.values() if r.get("Email") == "grace@example.com"]
    assert lead["Lead_Stage__c"] == "Marketing Qualified Lead"
    assert lead["HubSpot_Contact_ID__c"] == made.id
    assert contact_props(hs_box, made.id)["salesforce_lead_id"] == lead["Id"]
    assert state.links.person_of([f"sf:Lead:{lead['Id']}"]) == {
        f"sf:Lead:{lead['Id']}": f"hs:contacts:{made.id}"
    }


def test_a_contact_below_the_handover_stage_gets_no_salesforce_lead(
    sf_box: SalesforceSandbox, service: SyncService
) -> None:
    made = service.hs.create({"h": {"email": "sub@example.com", "lifecyclestage": "subscriber"}})["h"]
    outcome = service.sync_one(f"hs:contacts:{made.id}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED
    assert not [r for r in sf_box.org.stores["Lead"].records.values() if r.get("Email") == "sub@example.com"]


def test_qualified_in_salesforce_sets_sql_on_both_sides(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    assert lead_of(sf_box, lead)["Lead_Stage__c"] == "Sales Qualified Lead"
    props = contact_props(hs_box, cid)
    assert (props["lifecyclestage"], props["hs_lead_status"]) == ("salesqualifiedlead", "OPEN_DEAL")


def test_sql_in_hubspot_sets_qualified_in_salesforce(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    service.hs.update({cid: {"lifecyclestage": "salesqualifiedlead"}})
    outcome = service.sync_one(f"hs:contacts:{cid}", Run.new("test"))
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    got = lead_of(sf_box, lead)
    assert (got["Lead_Stage__c"], got["Status"]) == ("Sales Qualified Lead", "Qualified")
    assert contact_props(hs_box, cid)["hs_lead_status"] == "OPEN_DEAL"


def test_a_recycle_in_salesforce_moves_hubspot_back_by_clear_then_set_and_audits_it(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Qualified", Lead_Stage__c="Sales Qualified Lead")
    assert contact_props(hs_box, cid)["lifecyclestage"] == "salesqualifiedlead"
    service.sf.update("Lead", [(lead, {"Lead_Stage__c": "Lead", "Status": "Working"})])
    run = Run.new("test")
    outcome = service.sync_one(f"sf:Lead:{lead}", run)
    assert outcome.disposition is Disposition.SYNCED, outcome.detail
    props = contact_props(hs_box, cid)
    assert (props["lifecyclestage"], props["hs_lead_status"]) == ("lead", "IN_PROGRESS")
    moves = [e for e in state.audit.entries(run=run.id) if e.op == "move_back"]
    assert [(m.field, m.before, m.after, m.side) for m in moves] == [
        ("lifecyclestage", "salesqualifiedlead", "lead", "hubspot")
    ]
    assert service.sync_one(f"sf:Lead:{lead}", Run.new("test")).writes == 0  # no echo


def test_a_conflict_is_settled_by_the_field_policy_and_the_audit_says_so(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Lead")
    # both sides edit the status between two syncs: the status is owned by sales, Salesforce wins
    service.sf.update("Lead", [(lead, {"Status": "Meeting Set"})])
    service.hs.update({cid: {"hs_lead_status": "ATTEMPTED_TO_CONTACT"}})
    run = Run.new("test")
    outcome = service.sync_batch([f"sf:Lead:{lead}", f"hs:contacts:{cid}"], run)
    assert outcome.keys[f"sf:Lead:{lead}"].disposition is Disposition.SYNCED
    assert lead_of(sf_box, lead)["Status"] == "Meeting Set"
    assert contact_props(hs_box, cid)["hs_lead_status"] == "CONNECTED"
    [entry] = [e for e in state.audit.entries(run=run.id) if e.field == "hs_lead_status"]
    assert (entry.before, entry.after) == ("ATTEMPTED_TO_CONTACT", "CONNECTED")
    assert "conflict" in entry.cause and "salesforce wins (salesforce_wins)" in entry.cause


def test_a_rejected_write_is_dead_lettered_with_the_crm_code_and_the_rest_of_the_batch_proceeds(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    bad_lead, bad_cid = synced_lead("bad@example.com", Status="Working", Lead_Stage__c="Lead")
    good_lead, good_cid = synced_lead("good@example.com", Status="Working", Lead_Stage__c="Lead")
    # the portal's admin removed the SQL lifecycle option: HubSpot refuses that value (400)
    stage = hs_box.portal.stores["contacts"].properties["lifecyclestage"]
    original = list(stage.options)
    stage.options = [o for o in stage.options if o.value != "salesqualifiedlead"]
    service.sf.update("Lead", [(bad_lead, {"Status": "Qualified"}), (good_lead, {"Status": "Meeting Set"})])
    run = Run.new("test")
    outcome = service.sync_batch([f"sf:Lead:{bad_lead}", f"sf:Lead:{good_lead}"], run)
    assert outcome.keys[f"sf:Lead:{bad_lead}"].disposition is Disposition.DEAD_LETTERED
    assert outcome.keys[f"sf:Lead:{good_lead}"].disposition is Disposition.SYNCED
    assert contact_props(hs_box, good_cid)["hs_lead_status"] == "CONNECTED"
    letter = state.dead.get(f"sf:Lead:{bad_lead}")
    assert letter is not None and letter.reason == "rejected" and letter.run_id == run.id
    [failed] = letter.writes
    assert (
        failed.side == "hubspot"
        and failed.state == "rejected"
        and failed.code
        and "VALIDATION" in failed.code
    )
    assert failed.fields["lifecyclestage"] == "salesqualifiedlead" and letter.plan is not None
    assert contact_props(hs_box, bad_cid)["lifecyclestage"] == "lead"

    stage.options = original  # the admin puts the option back: the person syncs and leaves the list
    again = service.sync_one(f"sf:Lead:{bad_lead}", Run.new("test"))
    assert again.disposition is Disposition.SYNCED, again.detail
    assert contact_props(hs_box, bad_cid)["lifecyclestage"] == "salesqualifiedlead"
    assert state.dead.get(f"sf:Lead:{bad_lead}") is None


def test_giving_up_on_a_key_dead_letters_its_person(
    service: SyncService, state: State, synced_lead: Callable[..., tuple[str, str]]
) -> None:
    lead, _ = synced_lead()
    run = Run.new("test")
    service.give_up([f"sf:Lead:{lead}", "not-a-key"], run, "gave up after 8 attempts: SERVER_UNAVAILABLE")
    letter = state.dead.get(f"sf:Lead:{lead}")
    assert letter is not None and letter.reason == "retries_exhausted" and "8 attempts" in letter.detail
    assert letter.run_id == run.id and letter.record_keys == (f"sf:Lead:{lead}",)


def test_running_a_batch_again_writes_nothing(
    service: SyncService, synced_lead: Callable[..., tuple[str, str]]
) -> None:
    people = [synced_lead(f"p{i}@example.com", Status="Working") for i in range(5)]
    keys = [f"sf:Lead:{lead}" for lead, _ in people] + [f"hs:contacts:{cid}" for _, cid in people]
    first = service.sync_batch(keys, Run.new("test"))
    second = service.sync_batch(keys, Run.new("test"))
    assert first.writes == 0 and second.writes == 0
    assert set(second.done) == set(keys)


def test_a_key_whose_lease_expired_is_claimed_again_and_synced(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService, redis_client: Any
) -> None:
    lead = sf_box.org.create(
        "Lead", {"LastName": "Lease", "Company": "C", "Email": "lease@example.com"}, sf_box.org.admin_id
    )
    dirty = DirtySet(redis_client, "salesforce")
    dirty.record([Event("e1", (Change("Lead", lead),))])
    dirty.claim("Lead", 10, lease_s=0.05)  # a worker claims it and dies before syncing
    time.sleep(0.1)
    claim = dirty.claim("Lead", 10, lease_s=60)
    assert claim.ids == (lead,) and claim.requeued == 1
    outcome = service.sync_batch([f"sf:Lead:{i}" for i in claim.ids], Run.new("test"))
    dirty.finish(claim, [k.split(":")[2] for k in outcome.done])
    assert outcome.done == [f"sf:Lead:{lead}"] and dirty.leased("Lead") == {} and dirty.size("Lead") == 0
    assert len(hs_box.portal.stores["contacts"].records) == 1


def test_two_concurrent_syncs_of_one_person_never_interleave(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State
) -> None:
    lead = sf_box.org.create(
        "Lead", {"LastName": "Twice", "Company": "C", "Email": "twice@example.com"}, sf_box.org.admin_id
    )
    # the first sync is slowed down inside its lock (its HubSpot create takes a second)
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/upsert", delay_ms=1000, count=1)
    a, b = make_service(sf_box, hs_box, state), make_service(sf_box, hs_box, state)
    key = f"sf:Lead:{lead}"
    outcomes: dict[str, Disposition] = {}

    def first() -> None:
        outcomes["a"] = a.sync_one(key, Run.new("test")).disposition

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while state.locks.holder(key) is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert state.locks.holder(key) is not None  # the first sync holds the person
    outcomes["b"] = b.sync_one(key, Run.new("test")).disposition
    thread.join()
    assert outcomes == {"a": Disposition.SYNCED, "b": Disposition.BUSY}
    assert len(hs_box.portal.stores["contacts"].records) == 1
