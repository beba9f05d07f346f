"""The running daemon keeps both CRMs in agreement (issue 7's end-to-end scenarios 1, 2, 3, 5 and 7).

One ``crmsync worker`` and one ``crmsync beat`` run for the module against both sandboxes; every test
changes its own people only through the CRMs' public APIs (simple-salesforce, hubspot-api-client) and
waits until the other CRM shows the expected values."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from simple_salesforce.api import Salesforce

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from worker.drain import in_flight
from worker.state.audit import AuditLog
from worker.state.dirty import DirtySet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PROPS = ["email", "lifecyclestage", "hs_lead_status", "salesforce_lead_id", "salesforce_contact_id"]
SYNC_S = 40  # a poll (1 s) + a dispatch tick (1 s) + one sync, with room for a loaded machine


@pytest.fixture(scope="module")
def state(redis_url: str, daemon: Service) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    wait_until(
        "the first polls",
        lambda: client.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
        timeout=60,
    )
    yield client
    client.close()


@pytest.fixture
def sf_api(sf_box: SalesforceSandbox, state: Any) -> Salesforce:
    return Salesforce(
        instance_url=sf_box.instance_url, session_id=sf_box.new_session_id(), session=sf_box.session()
    )


@pytest.fixture
def hs_api(hs_box: HubSpotSandbox, state: Any) -> Any:
    return hs_box.client()


def _email() -> str:
    return f"p{uuid.uuid4().hex[:10]}@example.com"


def _hs_contact(hs_api: Any, contact_id: str) -> dict[str, Any]:
    return dict(hs_api.crm.contacts.basic_api.get_by_id(contact_id, properties=PROPS).properties)


def _hs_by_email(hs_api: Any, email: str) -> dict[str, Any] | None:
    body = {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
        "properties": [*PROPS, "hs_object_id"],
    }
    found = hs_api.crm.contacts.search_api.do_search(body).results
    return {"id": found[0].id, **found[0].properties} if found else None


def _phone(hs_api: Any, contact_id: str) -> str | None:
    props = hs_api.crm.contacts.basic_api.get_by_id(contact_id, properties=["phone"]).properties
    return props.get("phone")


def _idle(state: Any) -> bool:
    """Nothing waiting or claimed, twice half a second apart."""
    dirty = lambda crm: DirtySet(state, crm)  # noqa: E731
    if in_flight(dirty):
        return False
    time.sleep(0.5)
    return in_flight(dirty) == 0


def _sf_lead(sf_api: Salesforce, lead_id: str) -> dict[str, Any]:
    return dict(sf_api.Lead.get(lead_id))


def test_1_a_salesforce_lead_appears_in_hubspot_linked_both_ways(sf_api: Salesforce, hs_api: Any) -> None:
    email = _email()
    lead_id = sf_api.Lead.create(
        {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": email}
    )["id"]
    contact = wait_until("the contact in HubSpot", lambda: _hs_by_email(hs_api, email), timeout=SYNC_S)
    assert contact["salesforce_lead_id"] == lead_id
    wait_until(
        "the link back in Salesforce",
        lambda: _sf_lead(sf_api, lead_id).get("HubSpot_Contact_ID__c") == contact["id"],
        timeout=SYNC_S,
    )


def test_1_a_hubspot_contact_reaching_mql_appears_in_salesforce_at_lead_stage_mql(
    sf_api: Salesforce, hs_api: Any
) -> None:
    email = _email()
    contact = hs_api.crm.contacts.basic_api.create(
        {"properties": {"email": email, "firstname": "Grace", "lastname": "Hopper", "lifecyclestage": "lead"}}
    )
    hs_api.crm.contacts.basic_api.update(
        contact.id, {"properties": {"lifecyclestage": "marketingqualifiedlead"}}
    )

    def lead() -> dict[str, Any] | None:
        rows = sf_api.query(
            f"SELECT Id, Lead_Stage__c, HubSpot_Contact_ID__c FROM Lead WHERE Email = '{email}'"
        )
        return rows["records"][0] if rows["records"] else None

    found = wait_until("the lead in Salesforce", lead, timeout=SYNC_S)
    assert found["Lead_Stage__c"] == "Marketing Qualified Lead"
    assert found["HubSpot_Contact_ID__c"] == contact.id


def _linked_pair(sf_api: Salesforce, hs_api: Any, **lead: Any) -> tuple[str, str]:
    email = _email()
    fields = {"FirstName": "Alan", "LastName": "Turing", "Company": "Bletchley", "Email": email, **lead}
    lead_id = sf_api.Lead.create(fields)["id"]
    contact = wait_until("the linked contact", lambda: _hs_by_email(hs_api, email), timeout=SYNC_S)
    wait_until(
        "the link back",
        lambda: _sf_lead(sf_api, lead_id).get("HubSpot_Contact_ID__c") == contact["id"],
        timeout=SYNC_S,
    )
    return lead_id, contact["id"]


def test_2_mql_in_hubspot_sets_lead_stage_and_qualified_in_salesforce_sets_sql_on_both(
    sf_api: Salesforce, hs_api: Any
) -> None:
    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Open", Lead_Stage__c="Lead")
    hs_api.crm.contacts.basic_api.update(
        contact_id, {"properties": {"lifecyclestage": "marketingqualifiedlead"}}
    )
    wait_until(
        "Lead Stage MQL in Salesforce",
        lambda: _sf_lead(sf_api, lead_id)["Lead_Stage__c"] == "Marketing Qualified Lead",
        timeout=SYNC_S,
    )

    sf_api.Lead.update(lead_id, {"Status": "Qualified"})
    wait_until(
        "salesqualifiedlead in HubSpot",
        lambda: _hs_contact(hs_api, contact_id)["lifecyclestage"] == "salesqualifiedlead",
        timeout=SYNC_S,
    )
    wait_until(
        "Lead Stage SQL in Salesforce",
        lambda: _sf_lead(sf_api, lead_id)["Lead_Stage__c"] == "Sales Qualified Lead",
        timeout=SYNC_S,
    )


def test_5_a_recycle_moves_hubspot_back_through_clear_then_set(sf_api: Salesforce, hs_api: Any) -> None:
    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Qualified")
    wait_until(
        "SQL in HubSpot",
        lambda: _hs_contact(hs_api, contact_id)["lifecyclestage"] == "salesqualifiedlead",
        timeout=SYNC_S,
    )
    sf_api.Lead.update(lead_id, {"Status": "Working", "Lead_Stage__c": "Lead"})
    wait_until(
        "lead again in HubSpot",
        lambda: _hs_contact(hs_api, contact_id)["lifecyclestage"] == "lead",
        timeout=SYNC_S,
    )


def test_3_opportunity_then_closed_won_then_a_new_contact_at_the_customer_account(
    sf_api: Salesforce, hs_api: Any
) -> None:
    email = _email()
    account_id = sf_api.Account.create({"Name": f"Acme {email}"})["id"]
    contact_id = sf_api.Contact.create({"LastName": "Babbage", "Email": email, "AccountId": account_id})["id"]
    hs = wait_until("the contact in HubSpot", lambda: _hs_by_email(hs_api, email), timeout=SYNC_S)

    opp_id = sf_api.Opportunity.create(
        {"Name": "Engine", "AccountId": account_id, "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    sf_api.OpportunityContactRole.create(
        {"OpportunityId": opp_id, "ContactId": contact_id, "IsPrimary": True}
    )
    wait_until(
        "opportunity on both sides",
        lambda: (
            _hs_contact(hs_api, hs["id"])["lifecyclestage"] == "opportunity"
            and sf_api.Contact.get(contact_id)["Lead_Stage__c"] == "Opportunity"
        ),
        timeout=SYNC_S,
    )

    sf_api.Opportunity.update(opp_id, {"StageName": "Closed Won"})
    wait_until(
        "customer on both sides",
        lambda: (
            _hs_contact(hs_api, hs["id"])["lifecyclestage"] == "customer"
            and sf_api.Contact.get(contact_id)["Lead_Stage__c"] == "Customer"
        ),
        timeout=SYNC_S,
    )

    sf_api.Account.update(account_id, {"Type": "Customer"})
    newcomer = _email()
    sf_api.Contact.create({"LastName": "Lovelace", "Email": newcomer, "AccountId": account_id})
    wait_until(
        "the new contact at the customer account to be a customer in HubSpot",
        lambda: (_hs_by_email(hs_api, newcomer) or {}).get("lifecyclestage") == "customer",
        timeout=SYNC_S,
    )


def test_4_a_completed_call_sets_contacted_and_a_booked_meeting_sets_meeting_set(
    sf_api: Salesforce, hs_api: Any
) -> None:
    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Open")
    sf_api.Task.create(  # a logged call, as Salesforce records it
        {"WhoId": lead_id, "Subject": "Call", "TaskSubtype": "Call", "Type": "Call", "Status": "Completed"}
    )
    wait_until(
        "Contacted on both sides",
        lambda: (
            _sf_lead(sf_api, lead_id)["Status"] == "Contacted"
            and _hs_contact(hs_api, contact_id)["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"
        ),
        timeout=SYNC_S,
    )
    sf_api.Event.create(
        {
            "WhoId": lead_id,
            "Subject": "Demo",
            "StartDateTime": "2026-12-01T10:00:00Z",
            "EndDateTime": "2026-12-01T11:00:00Z",
        }
    )
    wait_until(
        "Meeting Set on both sides",
        lambda: (
            _sf_lead(sf_api, lead_id)["Status"] == "Meeting Set"
            and _hs_contact(hs_api, contact_id)["hs_lead_status"] == "CONNECTED"
        ),
        timeout=SYNC_S,
    )


def test_4_unqualified_without_a_reason_is_dead_lettered_naming_the_requirement(
    sf_api: Salesforce, hs_api: Any, state: Any
) -> None:
    from worker.state.deadletters import DeadLetterStore

    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Working")
    hs_api.crm.contacts.basic_api.update(contact_id, {"properties": {"hs_lead_status": "UNQUALIFIED"}})
    dead = DeadLetterStore(state)
    letter = wait_until(
        "a dead letter for the person", lambda: dead.get(f"sf:Lead:{lead_id}"), timeout=SYNC_S
    )
    text = letter.to_json()
    assert "nqualified" in text and "reason" in text.lower(), text
    assert _sf_lead(sf_api, lead_id)["Status"] == "Working"  # nothing half-written


def test_5_a_converted_leads_later_changes_go_to_its_contact(
    sf_api: Salesforce, hs_api: Any, sf_box: SalesforceSandbox
) -> None:
    from tests.integration.sandboxes import sf_settings
    from worker.crm.salesforce import SalesforceAdapter
    from worker.crm.salesforce.soap import LeadConversion

    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Qualified")
    [converted] = SalesforceAdapter(sf_settings(sf_box)).convert_leads(
        [LeadConversion(lead_id, "Converted", do_not_create_opportunity=True)]
    )
    assert converted.success and converted.contact_id
    wait_until(
        "the HubSpot contact linked to the Salesforce contact",
        lambda: _hs_contact(hs_api, contact_id).get("salesforce_contact_id") == converted.contact_id,
        timeout=SYNC_S,
    )
    hs_api.crm.contacts.basic_api.update(contact_id, {"properties": {"phone": "+44 20 7946 0000"}})
    wait_until(
        "the phone on the Contact",
        lambda: sf_api.Contact.get(converted.contact_id).get("Phone") == "+44 20 7946 0000",
        timeout=SYNC_S,
    )
    assert _sf_lead(sf_api, lead_id).get("Phone") in (None, "")  # the read-only lead was left alone


def test_6_both_sides_edited_between_syncs_the_policy_decides_and_the_audit_says_so(
    sf_api: Salesforce, hs_api: Any, state: Any
) -> None:
    from worker.state.pauses import PauseStore

    lead_id, contact_id = _linked_pair(sf_api, hs_api, Phone="100")
    pauses = PauseStore(state)
    # nothing of this person's (or anyone's) may be in flight, or a sync could see one edit only
    wait_until("the daemon idle", lambda: _idle(state), timeout=SYNC_S)
    pauses.pause("hubspot", "test: hold syncs while both sides are edited", seconds=30)
    wait_until("running syncs to end", lambda: _idle(state), timeout=SYNC_S)
    try:
        hs_api.crm.contacts.basic_api.update(contact_id, {"properties": {"phone": "222"}})
        time.sleep(1.2)  # Salesforce stamps whole seconds: its edit must be the newer one
        sf_api.Lead.update(lead_id, {"Phone": "111"})
    finally:
        pauses.resume("hubspot")
    wait_until(
        "both sides at Salesforce's newer 111 (phone: two_way, newest_wins)",
        lambda: (
            _hs_contact(hs_api, contact_id).get("phone") == "111"
            if "phone" in _hs_contact(hs_api, contact_id)
            else hs_api.crm.contacts.basic_api.get_by_id(contact_id, properties=["phone"]).properties.get(
                "phone"
            )
            == "111"
        ),
        timeout=SYNC_S,
    )
    entries = [e for e in AuditLog(state).entries() if e.record == contact_id and e.field == "phone"]
    assert entries and "conflict" in entries[-1].cause and "newest_wins" in entries[-1].cause, entries


def test_8_a_hubspot_merge_is_followed_without_a_duplicate(sf_api: Salesforce, hs_api: Any) -> None:
    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Working")
    email = _sf_lead(sf_api, lead_id)["Email"]
    twin = hs_api.crm.contacts.basic_api.create(
        {"properties": {"email": f"twin.{email}", "firstname": "Alan", "lifecyclestage": "lead"}}
    ).id
    hs_api.crm.contacts.basic_api.merge({"primaryObjectId": twin, "objectIdToMerge": contact_id})
    wait_until(
        "the lead linked to the survivor",
        lambda: _sf_lead(sf_api, lead_id).get("HubSpot_Contact_ID__c") == twin,
        timeout=SYNC_S,
    )
    rows = sf_api.query(
        f"SELECT Id FROM Lead WHERE LastName = 'Turing' AND Email LIKE '%{email.split('@')[0]}%'"
    )
    assert [r["Id"] for r in rows["records"]] == [lead_id]  # no second lead for the person


def test_8_a_lead_deleted_in_salesforce_is_not_recreated_by_a_later_hubspot_change(
    sf_api: Salesforce, hs_api: Any, state: Any
) -> None:
    lead_id, contact_id = _linked_pair(sf_api, hs_api, Status="Working")
    email = _sf_lead(sf_api, lead_id)["Email"]
    sf_api.Lead.delete(lead_id)
    hs_api.crm.contacts.basic_api.update(contact_id, {"properties": {"phone": "+1 555 0100"}})
    edited = time.time() * 1000
    wait_until(
        "the HubSpot poll past the change", lambda: _hs_cursor_ms(state) >= edited - 1000, timeout=SYNC_S
    )
    # the deletion itself reaches the poll up to a minute later (``deleted/`` covers whole minutes), and a
    # loaded CI machine once needed more than SYNC_S to drain: wait longer, assert the same
    wait_until("the daemon idle", lambda: _idle(state), timeout=3 * SYNC_S)
    rows = sf_api.query(f"SELECT Id FROM Lead WHERE Email = '{email}'")["records"]
    assert rows == []  # deleted stays deleted: no resurrected or duplicate lead
    creates = [
        e
        for e in AuditLog(state).entries(person=f"sf:Lead:{lead_id}")
        if e.op == "create" and e.at_ms > edited
    ]
    assert creates == []


def _hs_cursor_ms(state: Any) -> int:
    from worker.crm.hubspot.cursor import Cursor
    from worker.state.cursors import CursorStore

    doc = CursorStore(state).get("hubspot", "contacts")
    return Cursor.decode(str(doc["cursor"])).modified_ms if doc else 0


def test_7_after_everything_settles_further_cycles_write_nothing(
    sf_api: Salesforce, hs_api: Any, state: Any
) -> None:
    _linked_pair(sf_api, hs_api, Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    audit = AuditLog(state)

    def quiet_for(seconds: float) -> bool:
        before = audit.length()
        time.sleep(seconds)
        return audit.length() == before

    wait_until("the audit to stop growing", lambda: quiet_for(3), timeout=SYNC_S * 2, every=0)
    # an observation window, not a wait: eight poll cycles of each CRM (1 s) and their dispatch ticks
    assert quiet_for(8)
