"""Edges of the planner's contract that the journey table does not name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.journeys import CONTACT_ID, HS_ID, SF_ID, base_of, facts, hs_contact, sf_lead, shipped
from worker.errors import InputError
from worker.plan import newly_seen, plan
from worker.records import Base


def test_a_plan_needs_at_least_one_record() -> None:
    with pytest.raises(InputError, match="at least one"):
        plan(None, None, None, None, shipped("default"))


def test_a_base_from_an_older_map_is_reported_not_a_crash() -> None:
    cmap = shipped("sirius-waterfall")
    stale = Base(
        values={"stage": "marketing_qualified", "status": "open"}, salesforce_values={}, hubspot_values={}
    )
    result = plan(
        sf_lead(stage="MQL", status="Working"), hs_contact(stage="marketingqualifiedlead"), stale, None, cmap
    )
    kinds = [(s.kind, s.ref) for s in result.skipped]
    assert ("stale_base", "stage") in kinds and ("stale_base", "status") in kinds
    assert result.values["stage"] == "mql"


def test_after_conversion_the_new_base_points_at_the_contact() -> None:
    cmap = shipped("default")
    lead = sf_lead(stage="Opportunity", status="Converted", IsConverted=True, ConvertedContactId=CONTACT_ID)
    result = plan(
        lead,
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        base_of(cmap, "opportunity", "converted"),
        None,
        cmap,
    )
    assert (result.new_base.salesforce_object, result.new_base.salesforce_id) == ("Contact", CONTACT_ID)
    assert all(w.object_type == "Contact" for w in result.salesforce)


def test_every_write_names_its_cause() -> None:
    cmap = shipped("default")
    result = plan(
        sf_lead(stage="Lead", status="Qualified"),
        hs_contact(stage="lead", status="OPEN"),
        base_of(cmap, "lead", "open"),
        None,
        cmap,
    )
    assert result.writes
    for write in result.writes:
        for change in write.changes:
            assert change.cause.kind in {
                "field",
                "rule",
                "requirement",
                "repair",
                "link",
                "lifecycle",
                "first_sight",
            }
            assert change.cause.ref and change.cause.detail


def test_a_round_without_facts_keeps_the_memory_of_facts_seen() -> None:
    cmap = shipped("default")
    booked = facts(meetings=["00U1"])
    sf, hs = (
        sf_lead(stage="Lead", status="Contacted"),
        hs_contact(stage="lead", status="ATTEMPTED_TO_CONTACT"),
    )
    first = plan(sf, hs, base_of(cmap, "lead", "contacted"), booked, cmap)
    assert first.values["status"] == "meeting_set"
    # The rep moves the person on to Working in a round that loaded no facts ...
    second = plan(sf_lead(stage="Lead", status="Working"), hs_contact(stage="lead", status="CONNECTED"),
                  first.new_base, None, cmap)  # fmt: skip
    assert second.new_base.facts.meetings == frozenset({"00U1"})
    # ... and the old meeting, seen again, does not force Meeting Set back.
    third = plan(sf_lead(stage="Lead", status="Working"), hs_contact(stage="lead", status="IN_PROGRESS"),
                 second.new_base, booked, cmap)  # fmt: skip
    assert third.values["status"] == "working"
    assert "meeting_booked" not in third.events


def test_a_converted_lead_that_names_no_contact_stays_the_lead_in_the_base() -> None:
    cmap = shipped("default")
    lead = sf_lead(stage="Opportunity", status="Converted", IsConverted=True)
    result = plan(
        lead,
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        base_of(cmap, "opportunity", "converted"),
        None,
        cmap,
    )
    assert (result.new_base.salesforce_object, result.new_base.salesforce_id) == ("Lead", lead.id)
    assert result.salesforce == ()
    assert [s.kind for s in result.skipped if s.side == "salesforce"] == ["read_only"]


def test_a_base_naming_another_hubspot_contact_meets_the_linked_one_for_the_first_time() -> None:
    """A merge or re-link: the base's HubSpot values were another contact's, so they say nothing."""
    cmap = shipped("default")
    base = replace(base_of(cmap, "sql", "qualified"), salesforce_id=SF_ID, hubspot_id="4242")
    sf, hs = sf_lead(stage="Sales Qualified Lead", status="Qualified"), hs_contact(stage="lead")
    assert newly_seen(sf, hs, base) == (False, True)
    result = plan(sf, hs, base, None, cmap)
    assert result.values["stage"] == "sql"
    assert result.salesforce == ()
    assert result.new_base.hubspot_id == HS_ID


def test_the_contact_of_a_converted_lead_is_not_a_new_record() -> None:
    cmap = shipped("default")
    base = replace(base_of(cmap, "opportunity", "converted"), salesforce_object="Lead", salesforce_id=SF_ID)
    contact = sf_lead(stage="Opportunity", object_type="Contact", record_id=CONTACT_ID)
    lead = sf_lead(stage="Opportunity", status="Converted", IsConverted=True, ConvertedContactId=CONTACT_ID)
    hs = hs_contact(stage="opportunity", status="OPEN_DEAL")
    assert newly_seen(contact, hs, base) == (False, False)
    followed = replace(base, salesforce_object="Contact", salesforce_id=CONTACT_ID)
    assert newly_seen(lead, hs, followed) == (False, False)


def test_a_hand_written_base_with_canonical_values_only_knows_both_sides() -> None:
    base = Base(values={"stage": "sql", "status": "qualified"}, salesforce_values={}, hubspot_values={})
    assert newly_seen(sf_lead(stage="Lead"), hs_contact(stage="lead"), base) == (False, False)
    assert newly_seen(sf_lead(stage="Lead"), hs_contact(stage="lead"), None) == (True, True)
