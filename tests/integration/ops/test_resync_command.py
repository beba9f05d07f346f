"""``crmsync resync``: by Salesforce id, HubSpot id, email and dead letters, in process and as a
subprocess, against both sandboxes and a real Redis; a dry run changes nothing; a rejected write exits
non-zero with HubSpot's message; a person held by a worker is busy (exit 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.state.store import State
from worker.sync import SyncService

from .conftest import Crmsync

pytestmark = pytest.mark.integration


def new_lead(sf_box: SalesforceSandbox, email: str = "grace@example.com", **values: Any) -> str:
    fields = {"FirstName": "Grace", "LastName": "Hopper", "Company": "Navy", "Email": email, **values}
    return str(sf_box.org.create("Lead", fields, sf_box.org.admin_id))


def contacts_with(hs_box: HubSpotSandbox, email: str) -> list[dict[str, str]]:
    return [
        dict(r.props)
        for r in hs_box.portal.stores["contacts"].records.values()
        if r.props.get("email") == email
    ]


def test_resync_by_salesforce_id_creates_the_contact_and_prints_plan_and_writes(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State
) -> None:
    lead = new_lead(sf_box, Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    result = crmsync("resync", "--sf", lead)
    assert result.exit_code == 0, result.output
    [contact] = contacts_with(hs_box, "grace@example.com")
    assert contact["lifecyclestage"] == "marketingqualifiedlead"
    assert f"sf:Lead:{lead}" in result.stdout and "synced" in result.stdout
    assert "hubspot create new contacts" in result.stdout  # the plan, with each field's reason
    assert "lifecyclestage = 'marketingqualifiedlead'  <- " in result.stdout, result.stdout
    assert "wrote hubspot contacts" in result.stdout  # what was written (from the audit stream)
    assert state.bases.get(f"sf:Lead:{lead}") is not None


def test_resync_by_hubspot_id_carries_the_stage_to_salesforce(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    service.hs.update({cid: {"lifecyclestage": "salesqualifiedlead"}})
    code, doc = crmsync.json("resync", "--hs", cid)
    assert code == 0
    [person] = doc["people"]
    assert person["disposition"] == "synced" and person["keys"] == [f"hs:contacts:{cid}"]
    written = {(w["side"], w["field"]): (w["before"], w["after"]) for w in person["written"]}
    assert written[("salesforce", "Lead_Stage__c")] == ("Marketing Qualified Lead", "Sales Qualified Lead")
    assert all(w["run"] == doc["run"] and w["run_kind"] == "resync" for w in person["written"])
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Sales Qualified Lead"


def test_resync_by_email_finds_the_records_in_both_crms(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    service: SyncService,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead("ada@example.com", Status="Working", Lead_Stage__c="Lead")
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    code, doc = crmsync.json("resync", "--email", "ADA@example.com")
    assert code == 0
    [person] = doc["people"]  # both records, one person
    assert sorted(person["keys"]) == sorted([f"sf:Lead:{lead}", f"hs:contacts:{cid}"])
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Sales Qualified Lead"


def test_an_email_nobody_has_is_a_clear_error(crmsync: Crmsync) -> None:
    result = crmsync("resync", "--email", "nobody@example.com")
    assert result.exit_code == 2
    assert "no Lead, Contact or HubSpot contact has the email 'nobody@example.com'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sf", "0015e00000AbCdEAAA"], "is not a Salesforce Lead (00Q…) or Contact (003…) id"),
        (["--hs", "12x"], "not a HubSpot contact key"),
        (["--code", "X"], "--code needs --failed"),
        ([], "name someone"),
    ],
)
def test_bad_targets_exit_2_and_run_nothing(
    crmsync: Crmsync, state: State, args: list[str], message: str
) -> None:
    result = crmsync("resync", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert state.audit.length() == 0


def test_dry_run_prints_the_plan_and_changes_nothing(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Lead")
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    before_base = state.bases.get(f"sf:Lead:{lead}")
    audit_before = state.audit.length()
    props_before = dict(hs_box.portal.stores["contacts"].records[int(cid)].props)
    code, doc = crmsync.json("resync", "--sf", lead, "--dry-run")
    assert code == 0 and doc["dry_run"] is True
    [person] = doc["people"]
    assert person["disposition"] == "planned" and person["written"] == []
    planned = {c["field"]: c["value"] for w in person["plan"]["writes"]["hubspot"] for c in w["changes"]}
    assert planned["lifecyclestage"] == "salesqualifiedlead"
    assert dict(hs_box.portal.stores["contacts"].records[int(cid)].props) == props_before
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Lead"
    assert state.bases.get(f"sf:Lead:{lead}") == before_base and state.audit.length() == audit_before


# bookkeeping of calls and locks, not a record of anyone: the HubSpot limiter's windows, the
# Salesforce API usage reading, and the fencing counter every lock (a dry run plans under them) bumps
CALL_BOOKKEEPING = ("crmsync:ratelimit:", "crmsync:salesforce:api-usage:", "crmsync:fence")


def redis_snapshot(r: Any) -> dict[bytes, bytes | None]:
    """Every key and its serialised value, but the call bookkeeping."""
    names = [k for k in r.scan_iter(count=1000) if not k.decode().startswith(CALL_BOOKKEEPING)]
    return {k: r.dump(k) for k in sorted(names)}


def crm_snapshot(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox) -> dict[str, Any]:
    return {
        "leads": {i: dict(r) for i, r in sf_box.org.stores["Lead"].records.items()},
        "contacts": {i: dict(r.props) for i, r in hs_box.portal.stores["contacts"].records.items()},
    }


def test_a_dry_run_records_nothing_in_redis_not_even_the_link_it_finds(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    synced_lead("ada@example.com", Status="Working", Lead_Stage__c="Lead")  # state exists already
    lead = new_lead(sf_box, "grace@example.com", Status="Qualified", Lead_Stage__c="Lead")
    contact = hs_box.portal.stores["contacts"].create({"email": "grace@example.com"}, SYSTEM)
    before, crms_before = redis_snapshot(state.redis), crm_snapshot(sf_box, hs_box)
    code, doc = crmsync.json("resync", "--sf", lead, "--dry-run")
    assert code == 0, doc
    [person] = doc["people"]  # the lead was matched with the contact by email…
    [update] = person["plan"]["writes"]["hubspot"]
    assert (update["op"], update["id"]) == ("update", str(contact.id))
    assert person["disposition"] == "planned"
    assert redis_snapshot(state.redis) == before  # …and the link was not stored, nor anything else
    assert crm_snapshot(sf_box, hs_box) == crms_before
    assert state.links.person_of([f"sf:Lead:{lead}", f"hs:contacts:{contact.id}"]) == {}


def test_a_rejected_write_exits_1_with_the_crm_message_then_resync_failed_by_code_fixes_it(
    crmsync: Crmsync,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, cid = synced_lead(Status="Working", Lead_Stage__c="Lead")
    stage = hs_box.portal.stores["contacts"].properties["lifecyclestage"]
    removed = [o for o in stage.options if o.value == "salesqualifiedlead"]
    stage.options = [o for o in stage.options if o.value != "salesqualifiedlead"]
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    result = crmsync("resync", "--sf", lead)
    assert result.exit_code == 1
    letter = state.dead.get(f"sf:Lead:{lead}")
    assert letter is not None
    [failed] = letter.writes
    assert f"REJECTED by hubspot {failed.code}: {failed.message}" in result.stderr
    assert "salesqualifiedlead" in failed.message
    # the admin restores the option; resync everything that failed with that code
    stage.options = [*stage.options, *removed]
    assert crmsync("resync", "--failed", "--code", "NO_SUCH_CODE").stdout.startswith("nothing to resync")
    code, doc = crmsync.json("resync", "--failed", "--code", str(failed.code))
    assert code == 0 and [p["disposition"] for p in doc["people"]] == ["synced"]
    assert hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"] == "salesqualifiedlead"
    assert state.dead.get(f"sf:Lead:{lead}") is None


def test_a_person_a_worker_holds_is_busy_exit_3_and_untouched(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, _ = synced_lead(Status="Working", Lead_Stage__c="Lead")
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    [lease] = state.locks.acquire_all([f"sf:Lead:{lead}"], wait_s=0)
    try:
        code, doc = crmsync.json("resync", "--sf", lead)
    finally:
        state.locks.release(lease)
    assert code == 3 and doc["people"][0]["disposition"] == "busy"
    assert sf_box.org.get("Lead", lead)["Lead_Stage__c"] == "Lead"


def test_resync_runs_as_a_subprocess(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox
) -> None:
    lead = new_lead(sf_box, "sub@example.com", Status="Working", Lead_Stage__c="Lead")
    done = crmsync.subprocess("resync", "--sf", lead, "--json")
    assert done.returncode == 0, done.stderr
    assert '"disposition": "synced"' in done.stdout
    assert len(contacts_with(hs_box, "sub@example.com")) == 1
    assert "password" not in done.stdout + done.stderr and hs_box.token not in done.stdout + done.stderr
