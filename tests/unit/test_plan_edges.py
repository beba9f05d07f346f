"""Edges of the planner's contract that the journey table does not name."""

from __future__ import annotations

import pytest

from tests.unit.journeys import CONTACT_ID, base_of, hs_contact, sf_lead, shipped
from worker.errors import InputError
from worker.plan import plan
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
            assert change.cause.kind in {"field", "rule", "requirement", "repair", "link", "lifecycle"}
            assert change.cause.ref and change.cause.detail
