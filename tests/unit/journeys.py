"""Builders shared by the planner tests: records in each CRM's own vocabulary, the way the APIs send them."""

from __future__ import annotations

from functools import cache
from typing import Any

from tests.conftest import MAPPINGS
from worker.mapping import CompiledMap, load_map
from worker.mapping.compile import compile_text
from worker.plan import Plan, apply_plan, plan
from worker.records import (
    Base,
    Facts,
    HubSpotRecord,
    SalesforceRecord,
    facts_from_json,
    hubspot_record,
    salesforce_record,
)

SF_ID = "00Q5e00000AbCdEEAV"
CONTACT_ID = "0035e00000XyZaBAAV"
HS_ID = "5101"


@cache
def shipped(name: str) -> CompiledMap:
    """A shipped map; ``name+conflict_policy`` is it with ``policies.first_sight.stage: conflict_policy``."""
    if "+" not in name:
        return load_map(MAPPINGS / f"{name}.yaml")
    file, variant = name.split("+")
    text = (MAPPINGS / f"{file}.yaml").read_text(encoding="utf-8")
    assert text.count("stage: furthest_along") == 1
    return compile_text(text.replace("stage: furthest_along", f"stage: {variant}"), f"{name}.yaml")


def sf_lead(
    *,
    stage: str | None = None,
    status: str | None = None,
    modified: str = "2026-11-20T09:00:00.000+0000",
    object_type: str = "Lead",
    record_id: str = SF_ID,
    **fields: Any,
) -> SalesforceRecord:
    raw: dict[str, Any] = {
        "attributes": {"type": object_type},
        "Id": record_id,
        "Email": "ada@example.com",
        "LastName": "Lovelace",
        "SystemModstamp": modified,
        "HubSpot_Contact_ID__c": HS_ID,
    }
    if object_type == "Lead":
        raw["Company"] = "Engines Ltd"
        raw["Status"] = status
    raw["Lead_Stage__c"] = stage
    raw.update(fields)
    return salesforce_record(raw)


def hs_contact(
    *,
    stage: str | None = None,
    status: str | None = None,
    modified: str = "2026-11-20T08:00:00.000Z",
    **props: Any,
) -> HubSpotRecord:
    properties: dict[str, Any] = {
        "email": "ada@example.com",
        "lastname": "Lovelace",
        "company": "Engines Ltd",
        "salesforce_lead_id": SF_ID,
    }
    properties["lifecyclestage"] = stage
    properties["hs_lead_status"] = status
    properties.update(props)
    return hubspot_record({"id": HS_ID, "properties": properties, "updatedAt": modified})


def base_of(
    cmap: CompiledMap, stage: str | None, status: str | None, *, only: str | None = None, **values: Any
) -> Base:
    """A base as the previous sync would have left it: both sides holding the images of the values.

    ``only="salesforce"`` (or ``"hubspot"``): the person was synced while only that side had a record,
    so the base knows nothing of the other side (no id, no values) — the other record, when it appears,
    is met for the first time.
    """
    canonical: dict[str, str | None] = {
        "stage": stage,
        "status": status,
        "email": "ada@example.com",
        "last_name": "Lovelace",
        "company": "Engines Ltd",
        **values,
    }
    sf_values: dict[str, str | None] = {}
    hs_values: dict[str, str | None] = {}
    for f in cmap.fields:
        if f.id not in canonical:
            continue
        value = canonical[f.id]
        if f.canon_to_sf is not None and value is not None:
            assert f.canon_to_hs is not None
            sf_values[f.id] = f.canon_to_sf[value]
            hs_values[f.id] = f.canon_to_hs[value]
        else:
            sf_values[f.id] = value
            hs_values[f.id] = value
    if only == "salesforce":
        return Base(canonical, sf_values, {}, salesforce_object="Lead", salesforce_id=SF_ID)
    if only == "hubspot":
        return Base(canonical, {}, hs_values, hubspot_id=HS_ID)
    return Base(values=canonical, salesforce_values=sf_values, hubspot_values=hs_values)


def hubspot_reading(cmap: CompiledMap, hubspot_value: str | None, salesforce_stage: str | None) -> str | None:
    """The stage a HubSpot lifecyclestage reads as when nothing was synced: the Salesforce side's stage
    when the value stands for it too (HubSpot has fewer stages), else the map's primary for it."""
    if hubspot_value is None:
        return None
    candidates = [s.id for s in cmap.stages.values() if s.hubspot == hubspot_value]
    if salesforce_stage in candidates:
        return salesforce_stage
    assert cmap.stage_field.hs_to_canon is not None
    return cmap.stage_field.hs_to_canon[hubspot_value]


def facts(**raw: Any) -> Facts:
    return facts_from_json(raw)


def replan(
    result: Plan, sf: SalesforceRecord | None, hs: HubSpotRecord | None, fx: Facts | None, cmap: CompiledMap
) -> Plan:
    """Apply ``result`` to the records and plan again with its new base."""
    sf2, hs2 = apply_plan(result, sf, hs)
    return plan(sf2, hs2, result.new_base, fx, cmap)


def written(result: Plan, side: str) -> dict[str, Any]:
    """The final value of every field written to one side (later steps win)."""
    out: dict[str, Any] = {}
    for write in sorted(getattr(result, side), key=lambda w: w.step):
        out.update(write.values())
    return out
