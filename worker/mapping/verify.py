"""Check a compiled map against what the CRMs really have: picklist values, options and fields.

A map that names a value the CRM lacks would fail at the first write — or worse, when the value is a
rename, silently break reports and automation (DOMAIN: "renaming a picklist value is a schema
change"). This is the pure half: callers pass what Salesforce's describe and HubSpot's properties API
answered, and get back every mismatch, each naming the map entry and the CRM's own values.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from worker.mapping.compiled import CompiledMap


def verify_against_crms(
    cmap: CompiledMap,
    *,
    salesforce: Mapping[str, Mapping[str, Set[str] | None]] | None = None,
    hubspot: Mapping[str, Set[str] | None] | None = None,
) -> list[str]:
    """Every way ``cmap`` disagrees with the CRMs.

    ``salesforce`` maps an object (``Lead``, ``Contact``) to its fields: field API name → the
    picklist's active values, or None for a field that is not a picklist. ``hubspot`` maps a contact
    property name → its enumeration options, or None for a property that is not an enumeration. A
    side that is not given is not checked.
    """
    problems: list[str] = []
    for f in cmap.synced_fields:  # a field the map does not sync is never read or written
        label = "stage" if f.id == "stage" else "status" if f.id == "status" else f"field {f.id}"
        if salesforce is not None and f.salesforce is not None:
            for sobject in sorted(f.salesforce_objects):
                fields = salesforce.get(sobject)
                if fields is None:
                    continue
                if f.salesforce not in fields:
                    problems.append(f"{label}: Salesforce {sobject} has no field {f.salesforce!r}")
                    continue
                problems += _missing(
                    label,
                    f"Salesforce {sobject}.{f.salesforce}",
                    "value",
                    f.canon_to_sf,
                    fields[f.salesforce],
                )
        if hubspot is not None and f.hubspot is not None:
            if f.hubspot not in hubspot:
                problems.append(f"{label}: HubSpot contacts have no property {f.hubspot!r}")
                continue
            problems += _missing(label, f"HubSpot {f.hubspot}", "option", f.canon_to_hs, hubspot[f.hubspot])
    links = [("Lead", cmap.link_sf_hubspot_id)] if salesforce is not None and "Lead" in salesforce else []
    for sobject, name in links:
        if name not in salesforce[sobject]:  # type: ignore[index]
            problems.append(f"links: Salesforce {sobject} has no field {name!r} to hold the HubSpot id")
    if hubspot is not None:
        for name in (cmap.link_hs_lead_id, cmap.link_hs_contact_id):
            if name not in hubspot:
                problems.append(
                    f"links: HubSpot contacts have no property {name!r} to hold the Salesforce id"
                )
    return problems


def _missing(
    label: str, where: str, noun: str, images: Mapping[str, str | None] | None, allowed: Set[str] | None
) -> list[str]:
    """The map's values for one field that the CRM's picklist/options lack (none for free text)."""
    if images is None or allowed is None:
        return []
    return [
        f"{label} {cid!r}: {where} has no {noun} {value!r} (it has: {', '.join(sorted(allowed))})"
        for cid, value in sorted(images.items())
        if value is not None and value not in allowed
    ]
