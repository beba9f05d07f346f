"""The fields and properties the worker itself needs (link ids, the create keys) are checked with the
map, each problem saying what to create: the Salesforce link field on Leads and Contacts (an External
ID on Leads, since creates are upserts on it) and HubSpot's link properties and unique create key."""

from __future__ import annotations

from tests.unit.journeys import shipped
from tests.unit.test_verify import CONTACT, HUBSPOT, LEAD
from worker.mapping.verify import Writable, hubspot_key_problems, verify_against_crms

LINK = "HubSpot_Contact_ID__c"


def writable(lead_external: frozenset[str] | None) -> dict[str, Writable]:
    return {
        "Lead": Writable(frozenset(LEAD), frozenset(LEAD), lead_external),
        "Contact": Writable(frozenset(CONTACT), frozenset(CONTACT), frozenset()),
    }


def test_a_lead_link_field_that_is_not_an_external_id_is_named_with_the_fix() -> None:
    sf = {"Lead": LEAD, "Contact": CONTACT}
    problems = verify_against_crms(
        shipped("default"), salesforce=sf, salesforce_writable=writable(frozenset())
    )
    assert problems == [
        f"links: Salesforce Lead.{LINK} is not an External ID field, and the worker creates Leads as "
        "upserts on it (so a create re-sent after a lost answer finds the first one): in Setup, edit the "
        "field and tick External ID (and Unique)"
    ]
    marked = writable(frozenset({LINK}))
    assert verify_against_crms(shipped("default"), salesforce=sf, salesforce_writable=marked) == []
    unknown = writable(None)  # a describe that did not say: not guessed
    assert verify_against_crms(shipped("default"), salesforce=sf, salesforce_writable=unknown) == []


def test_a_contact_without_the_link_field_is_named() -> None:
    contact = {k: v for k, v in CONTACT.items() if k != LINK}
    problems = verify_against_crms(shipped("default"), salesforce={"Lead": LEAD, "Contact": contact})
    assert problems == [f"links: Salesforce Contact has no field {LINK!r} to hold the HubSpot id"]


def test_hubspot_create_key_and_link_properties_are_named_with_what_to_create() -> None:
    cmap = shipped("default")
    names = set(HUBSPOT) - {"salesforce_contact_id"}
    problems = hubspot_key_problems(cmap, names, set(), "crmsync_key")
    assert problems[0] == (
        "links: HubSpot contacts have no property 'salesforce_contact_id' to hold the Salesforce id: "
        "create a single-line text contact property named 'salesforce_contact_id'"
    )
    assert problems[1].startswith("create key: HubSpot contacts have no property 'crmsync_key'")
    assert len(problems) == 2
    not_unique = hubspot_key_problems(cmap, set(HUBSPOT) | {"crmsync_key"}, set(), "crmsync_key")
    assert len(not_unique) == 1 and "does not require unique values" in not_unique[0]
    assert hubspot_key_problems(cmap, set(HUBSPOT) | {"crmsync_key"}, {"crmsync_key"}, "crmsync_key") == []
