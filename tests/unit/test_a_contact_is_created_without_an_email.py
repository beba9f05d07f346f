"""A Salesforce record without an email still gets its HubSpot contact: HubSpot asks for one of email,
firstname or lastname, and the worker's creates are upserts on its own create key, so the email is no
longer required. A record that fills none of the three is held back as ``blocked``, naming what is
missing (the sync service dead-letters it), never skipped silently."""

from __future__ import annotations

from tests.unit.journeys import replan, sf_lead, shipped
from worker.plan import plan


def test_a_lead_without_an_email_is_created_in_hubspot_by_its_name() -> None:
    cmap = shipped("default")
    lead = sf_lead(stage="Marketing Qualified Lead", status="Working", Email=None, HubSpot_Contact_ID__c=None)
    result = plan(lead, None, None, None, cmap)
    [create] = [w for w in result.hubspot if w.op == "create"]
    assert create.values()["lastname"] == "Lovelace" and "email" not in create.values()
    assert [s for s in result.skipped if s.side == "hubspot"] == []
    assert replan(result, lead, None, None, cmap).writes == ()  # applied and planned again: nothing more


def test_a_lead_with_no_email_and_no_name_is_blocked_naming_the_fields() -> None:
    cmap = shipped("default")
    lead = sf_lead(
        stage="Marketing Qualified Lead",
        status="Working",
        Email=None,
        LastName="[not provided]",
        HubSpot_Contact_ID__c=None,
    )
    result = plan(lead, None, None, None, cmap)
    assert [w for w in result.hubspot if w.op == "create"] == []
    [held] = [s for s in result.skipped if s.side == "hubspot"]
    assert held.kind == "blocked"
    assert "email, firstname or lastname" in held.detail and lead.id in held.detail
