"""Who owns each person, for the reports that group by owner: read from the CRMs through the adapters
(the owner is never synced, so neither the bases nor the audit hold it), a few batched calls.

The owner is the Salesforce record's (the map's field ``owner``, else the standard ``OwnerId``), shown
as the user's name and id; a person without a Salesforce record gets the HubSpot contact's owner
(``hubspot_owner_id`` unless the map says otherwise)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from worker.crm.salesforce import queries
from worker.mapping import CompiledMap
from worker.ops.context import record_key
from worker.state.links import Person

NO_OWNER = "—"
_CHUNK = 200


def owner_fields(cmap: CompiledMap) -> tuple[str, str]:
    f = cmap.fields_by_id.get("owner")
    return (
        (f.salesforce if f is not None and f.salesforce else "OwnerId"),
        (f.hubspot if f is not None and f.hubspot else "hubspot_owner_id"),
    )


def read_owners(
    people: Mapping[str, Person], cmap: CompiledMap, salesforce: Any, hubspot: Any
) -> dict[str, str]:
    """person id → owner label; people whose records name no owner are absent. A CRM passed as None
    (disabled in the settings) is not read."""
    sf_field, hs_field = owner_fields(cmap)
    by_object: dict[str, dict[str, str]] = defaultdict(dict)  # object → record id → person
    hs_ids: dict[str, str] = {}
    for pid, who in people.items():
        key = record_key(who.salesforce) if salesforce is not None else None
        if key is not None:
            by_object[key.object_type][key.id] = pid
        elif hubspot is not None and (hs := record_key(who.hubspot)) is not None:
            hs_ids[hs.id] = pid
    owner_of: dict[str, str] = {}
    for obj, ids in by_object.items():
        report = salesforce.fetch(obj, list(ids), [sf_field])
        for rid, row in report.records.items():
            if row.get(sf_field):
                owner_of[ids[rid]] = str(row[sf_field])
    names = _user_names(salesforce, sorted({o for o in owner_of.values() if o.startswith("005")}))
    out = {pid: f"{names[o]} ({o})" if o in names else o for pid, o in owner_of.items()}
    if hs_ids:
        report = hubspot.fetch("contacts", list(hs_ids), [hs_field])
        for cid, row in report.records.items():
            value = (row.get("properties") or {}).get(hs_field)
            if value:
                out[hs_ids[cid]] = f"HubSpot owner {value}"
    return out


def _user_names(salesforce: Any, ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        soql = queries.select(["Id", "Name"], "User", "Id IN {}", [list(ids[start : start + _CHUNK])])
        for row in salesforce.query(soql):
            out[str(row["Id"])] = str(row.get("Name") or row["Id"])
    return out
