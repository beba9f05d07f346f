"""Whether a record read fresh holds nothing its person's base does not know: the echo of the worker's
own write (or an edit of a field nobody syncs). Pure.

A sync whose keys all name one CRM reads that side first; a person whose record there is unchanged since
the last sync needs no read of the other side: planning it could only do what a change on the other
side will do when that side's own signal (poll or webhook) brings it. Unchanged means every input the
planner takes from that record is what the base recorded: each synced field's value on that side (the
base keeps each side's own value, so this is exact), the record's identity and link to its partner, no
conversion or merge, and (Salesforce) no related fact the base has not seen. Anything else, or any
doubt (an older base without a side's values), reads both sides as before.
"""

from __future__ import annotations

from collections.abc import Mapping

from worker.mapping import CompiledMap
from worker.records import Base, Facts, HubSpotRecord, SalesforceRecord, Value


def _same(base: Mapping[str, Value], fid: str, raw: Value) -> bool:
    return fid in base and base[fid] == (None if raw == "" else raw)


def salesforce_unchanged(
    record: SalesforceRecord, facts: Facts | None, base: Base, cmap: CompiledMap
) -> bool:
    """The Salesforce record adds nothing to ``base`` (see the module docstring)."""
    if record.is_converted or facts is None or facts.converted:
        return False
    if (record.object_type, record.id) != (base.salesforce_object, base.salesforce_id):
        return False
    if str(record.get(cmap.link_sf_hubspot_id) or "") != (base.hubspot_id or ""):
        return False
    seen = base.facts
    if (
        not {(o.id, o.state) for o in facts.opportunities} <= set(seen.opportunities)
        or not facts.completed_calls <= seen.completed_calls
        or not facts.meetings <= seen.meetings
        or facts.account_is_customer != seen.account_is_customer
        or facts.account_churned != seen.account_churned
    ):
        return False
    held = base.salesforce_values
    return all(
        _same(held, fid, record.values.get(sf_name))
        for _, fid, sf_name, sf_objects, *_ in cmap.merge_walk
        if sf_name is not None and record.object_type in sf_objects
    )


def hubspot_echo_properties(cmap: CompiledMap) -> list[str]:
    """The contact properties ``hubspot_unchanged`` reads: a row carrying them can be checked as it is."""
    synced = {name for _, _, _, _, name, *_ in cmap.merge_walk if name is not None}
    return sorted(synced | {cmap.link_hs_lead_id, cmap.link_hs_contact_id, "hs_merged_object_ids"})


def hubspot_unchanged(record: HubSpotRecord, base: Base, cmap: CompiledMap) -> bool:
    """The HubSpot contact adds nothing to ``base`` (see the module docstring)."""
    if record.archived or record.id != base.hubspot_id or record.get("hs_merged_object_ids"):
        return False
    link = cmap.link_hs_contact_id if base.salesforce_object == "Contact" else cmap.link_hs_lead_id
    if str(record.get(link) or "") != (base.salesforce_id or ""):
        return False
    held = base.hubspot_values
    return all(
        _same(held, fid, record.properties.get(name))
        for _, fid, _, _, name, *_ in cmap.merge_walk
        if name is not None
    )
