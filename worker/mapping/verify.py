"""Check a compiled map against what the CRMs really have: picklist values, options and fields.

A map that names a value the CRM lacks would fail at the first write — or worse, when the value is a
rename, silently break reports and automation (DOMAIN: "renaming a picklist value is a schema
change"). This is the pure half: callers pass what Salesforce's describe and HubSpot's properties API
answered, and get back every mismatch, each naming the map entry and the CRM's own values.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from worker.mapping.compiled import CompiledMap, Field
from worker.mapping.model import SyncRule

FLS_HINT = "missing, or hidden from the connected user by field-level security"


@dataclass(frozen=True)
class Writable:
    """What Salesforce's describe says the connected user may write on one object: the fields whose
    ``createable`` / ``updateable`` is true (field-level security folds into these; a hidden field is
    not in describe at all; api_rest resources_sobject_describe.htm field properties)."""

    createable: frozenset[str]
    updateable: frozenset[str]


def _label(f: Field) -> str:
    return "stage" if f.id == "stage" else "status" if f.id == "status" else f"field {f.id}"


def writes_salesforce(f: Field) -> bool:
    """Whether the worker ever writes this field to Salesforce (every rule but always_salesforce)."""
    return f.sync is not SyncRule.ALWAYS_SALESFORCE


def salesforce_field_problems(
    cmap: CompiledMap,
    salesforce: Mapping[str, Mapping[str, object]],
    writable: Mapping[str, Writable] | None = None,
) -> list[str]:
    """Fields the worker needs on Salesforce but the connected user cannot read, update or create.

    ``salesforce``: per object, the fields its describe lists (a field hidden by field-level security
    is absent, and SOQL naming it fails with INVALID_FIELD, so every poll would fail). ``writable``:
    per object, what describe says may be created/updated; a read-only field refuses every write with
    INVALID_FIELD_FOR_INSERT_UPDATE. The worker reads every synced field, updates those it writes
    (``writes_salesforce``) and the link field, and creates Leads with them when the map creates."""
    problems: list[str] = []
    needs: list[tuple[str, str, str, bool]] = []  # (label, object, field, written?)
    for f in cmap.synced_fields:
        if f.salesforce is not None:
            needs += [
                (_label(f), o, f.salesforce, writes_salesforce(f)) for o in sorted(f.salesforce_objects)
            ]
    needs.append(("links", "Lead", cmap.link_sf_hubspot_id, True))
    for label, sobject, name, written in needs:
        fields = salesforce.get(sobject)
        if fields is None:
            continue
        if name not in fields:
            what = "to hold the HubSpot id" if label == "links" else f"({FLS_HINT})"
            problems.append(f"{label}: Salesforce {sobject} has no field {name!r} {what}")
            continue
        access = writable.get(sobject) if writable is not None else None
        if access is None or not written:
            continue
        if name not in access.updateable:
            problems.append(
                f"{label}: the connected Salesforce user cannot update {sobject}.{name} "
                "(read-only by field-level security); grant Edit on it"
            )
        elif sobject == "Lead" and cmap.hs_to_sf_create and name not in access.createable:
            problems.append(
                f"{label}: the connected Salesforce user cannot set {sobject}.{name} when creating "
                "Leads (field-level security); grant Edit on it"
            )
    return problems


def record_type_problems(
    cmap: CompiledMap, record_types: Mapping[str, Mapping[str, Mapping[str, Set[str]]]]
) -> list[str]:
    """Per Salesforce record type, the map's picklist values its type does not allow.

    ``record_types``: object → record type name → picklist field → the values that type allows (what
    the UI API's picklist values per record type answer). A lead of that type given such a value is
    refused (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST), so each gap is named with the type."""
    problems: list[str] = []
    for f in cmap.synced_fields:
        if f.salesforce is None or f.canon_to_sf is None:
            continue
        for sobject in sorted(f.salesforce_objects):
            for type_name, fields in sorted(record_types.get(sobject, {}).items()):
                allowed = fields.get(f.salesforce)
                if allowed is None:
                    continue
                problems += _missing(
                    _label(f),
                    f"Salesforce {sobject} record type {type_name!r} ({f.salesforce})",
                    "value",
                    f.canon_to_sf,
                    allowed,
                )
    return problems


def verify_against_crms(
    cmap: CompiledMap,
    *,
    salesforce: Mapping[str, Mapping[str, Set[str] | None]] | None = None,
    hubspot: Mapping[str, Set[str] | None] | None = None,
    salesforce_writable: Mapping[str, Writable] | None = None,
    salesforce_record_types: Mapping[str, Mapping[str, Mapping[str, Set[str]]]] | None = None,
) -> list[str]:
    """Every way ``cmap`` disagrees with the CRMs.

    ``salesforce`` maps an object (``Lead``, ``Contact``) to its fields: field API name → the
    picklist's active values, or None for a field that is not a picklist. ``salesforce_writable``
    (optional) adds what the connected user may create/update (``salesforce_field_problems``), and
    ``salesforce_record_types`` the values each record type allows (``record_type_problems``).
    ``hubspot`` maps a contact property name → its enumeration options, or None for a property that is
    not an enumeration. A side that is not given is not checked.
    """
    problems: list[str] = []
    if salesforce is not None:
        problems += salesforce_field_problems(cmap, salesforce, salesforce_writable)
    for f in cmap.synced_fields:  # a field the map does not sync is never read or written
        label = _label(f)
        if salesforce is not None and f.salesforce is not None:
            for sobject in sorted(f.salesforce_objects):
                fields = salesforce.get(sobject)
                if fields is None or f.salesforce not in fields:
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
    if salesforce_record_types is not None:
        problems += record_type_problems(cmap, salesforce_record_types)
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
