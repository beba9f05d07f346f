"""Request parsing → model call → JSON serialisation. No business rules live here.

Shapes follow the SPEC schemas summarised in shared/reference/hubspot-api.md §2.1; query
parameters accept both repeated keys (what hubspot-api-client sends) and comma-separated values
(what other clients send) [A, PY basic_api collection_formats "multi"; SPEC].
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.requests import Request

from sandbox.hubspot import limits
from sandbox.hubspot.errors import (
    DuplicateIdsError,
    HubSpotError,
    NoAssociationsFoundError,
    NoPropertiesError,
    ObjectNotFoundError,
    PropertyExistsError,
    ValidationError,
)
from sandbox.hubspot.models import (
    ASSOCIATION_NAMES,
    ASSOCIATION_TYPES,
    OBJECT_TYPES,
    Actor,
    ObjectStore,
    Portal,
    Record,
    iso,
    resolve_type,
)
from sandbox.hubspot.properties import apply_property_patch, property_from_json
from sandbox.hubspot.search import parse_request

ALWAYS = ("createdate", "hs_object_id")
# The CRM object event types of the webhooks v3 API for the objects the sandbox has [A, SPEC webhooks v3
# eventType enum: creation, deletion, propertyChange, associationChange, merge, restore per object, and
# contact.privacyDeletion].
WEBHOOK_EVENT_TYPES = frozenset(
    {
        f"{o}.{e}"
        for o in ("contact", "company", "deal")
        for e in ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
    }
    | {"contact.privacyDeletion"}
)


@dataclass
class Ctx:
    """One authenticated call: the request, its portal, who is acting, and its parsed body."""

    request: Request
    portal: Portal
    actor: Actor
    body: Any

    @property
    def params(self) -> dict[str, str]:
        return {k: unquote(v) for k, v in self.request.path_params.items()}

    def multi(self, name: str) -> list[str] | None:
        values = self.request.query_params.getlist(name)
        if not values:
            return None
        out: list[str] = []
        for v in values:
            out += [p.strip() for p in v.split(",") if p.strip()]
        return out

    def flag(self, name: str) -> bool:
        return self.request.query_params.get(name, "false").lower() in ("true", "1")

    def int_param(self, name: str, default: int, maximum: int) -> int:
        raw = self.request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError(f"Invalid {name}: {raw}") from None
        if value < 1 or value > maximum:
            raise ValidationError(f"{name} must be between 1 and {maximum}")
        return value

    def store(self) -> ObjectStore:
        return self.portal.store(self.request.path_params["objectType"])


Result = tuple[int, Any]


def record_json(
    store: ObjectStore,
    rec: Record,
    properties: Iterable[str] | None = None,
    with_history: Iterable[str] | None = None,
    associations: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A ``SimplePublicObject``; requested-but-unset known properties come back as null [C]."""
    names = list(properties) if properties is not None else list(store.spec.default_properties)
    modified = "lastmodifieddate" if store.spec.name == "contacts" else "hs_lastmodifieddate"
    for extra in (*ALWAYS, modified):
        if extra not in names:
            names.append(extra)
    props = {n: rec.props.get(n) for n in names if n in store.properties}
    doc: dict[str, Any] = {
        "id": str(rec.id),
        "properties": props,
        "createdAt": iso(rec.created_ms),
        "updatedAt": iso(rec.updated_ms),
        "archived": rec.archived,
    }
    if rec.archived:
        doc["archivedAt"] = iso(rec.archived_ms)
    if with_history:
        hist: dict[str, list[dict[str, Any]]] = {}
        for n in with_history:
            if n not in store.properties:
                continue
            if rec.history is not None and n in rec.history:
                entries = rec.history[n]
            else:
                entries = rec.initial_history(n)
            hist[n] = [
                {"value": v, "timestamp": iso(ts), "sourceType": st, "sourceId": sid}
                for v, ts, st, sid in entries
            ]
        doc["propertiesWithHistory"] = hist
    if associations:
        out: dict[str, Any] = {}
        for to in associations:
            try:
                to_type = resolve_type(to)
            except ObjectNotFoundError:
                continue  # unknown types are ignored [A, SPEC]
            links = store.portal.associated(store.spec.name, rec.id, to_type)
            if links:
                name = ASSOCIATION_NAMES.get((store.spec.name, to_type), "")
                out[to_type] = {"results": [{"id": str(tid), "type": name} for tid, _ in links]}
        if out:
            doc["associations"] = out
    return doc


def _missing_message(store: ObjectStore) -> str:
    kind = store.spec.singular.upper()
    return f"Could not get some {kind} objects, they may be deleted or not exist. Check that ids are valid."


def _batch(results: list[Any], errors: list[dict[str, Any]], ctx: Ctx, ok_status: int) -> Result:
    """A batch answer; ``results`` come in no guaranteed order [B, hubspot-api-nodejs #190, maintainer:
    "The results array is returned in a random order ... we can't fix it"], so the sandbox shuffles them
    (deterministically from the portal's ``batch_order_seed``)."""
    now = iso(ctx.portal.clock.now_ms())
    ctx.portal.shuffle(results)
    doc: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        doc["errors"] = errors
        doc["numErrors"] = len(errors)
        return 207, doc
    return ok_status, doc


def _inputs(ctx: Ctx, cap: int = limits.BATCH_MAX_INPUTS, *, history: bool = False) -> list[dict[str, Any]]:
    """The ``inputs`` list, capped. Texts [B]: "... in a batch is 100. Please reduce the number of items
    and try again" (a captured 400 quoted in a public repo) and "... in a batch request for property
    histories is 50 ..." (activepieces PR #9359)."""
    what = "request for property histories" if history else ""
    body = ctx.body if isinstance(ctx.body, dict) else {}
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise ValidationError("Invalid input JSON: inputs must be a list")
    if len(inputs) > cap:
        raise ValidationError(
            f"The maximum number of inputs supported in a batch {what + ' ' if what else ''}is {cap}. "
            "Please reduce the number of items and try again"
        )
    return [i if isinstance(i, dict) else {} for i in inputs]


def _check_unique_ids(inputs: list[dict[str, Any]], *, fold_case: bool = False) -> None:
    """Refuse a batch naming one id twice [B] (``DuplicateIdsError``). ``fold_case`` compares upsert
    emails case-insensitively: HubSpot stores emails lower-cased, so two spellings are one contact [C]."""
    seen: set[str] = set()
    dupes: list[str] = []
    for i in inputs:
        raw = str(i.get("id", "")).strip()
        key = raw.lower() if fold_case else raw
        if key in seen and raw not in dupes:
            dupes.append(raw)
        seen.add(key)
    if dupes:
        raise DuplicateIdsError(dupes)


def _props_in(doc: Any, *, require: bool = False) -> dict[str, Any]:
    """The ``properties`` object; with ``require`` an empty one is refused (``NoPropertiesError``)."""
    props = doc.get("properties") if isinstance(doc, dict) else None
    if props is None and require:
        raise NoPropertiesError()
    if not isinstance(props, dict):
        raise ValidationError("Invalid input JSON: properties must be an object")
    if require and not props:
        raise NoPropertiesError()
    return props


def _traced(doc: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Echo an input's ``objectWriteTraceId`` on its result [A, SPEC batch inputs and SimplePublicObject]."""
    trace = given.get("objectWriteTraceId")
    if trace is not None:
        doc["objectWriteTraceId"] = str(trace)
    return doc


def _object_id(raw: Any) -> int:
    """An object id from JSON input: a positive integer (as a number or a string), else a 400."""
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        raise ValidationError(f"Invalid input JSON: {raw!r} is not an object id")
    return int(text)


def _association_type_ids(from_type: str, to_type: str, specs: Any) -> set[int]:
    """Type ids of ``[{associationCategory, associationTypeId}]``; ids HubSpot does not define for the pair
    are refused [C: HubSpot refuses unknown type ids; its text is not captured]."""
    if not isinstance(specs, list) or not specs:
        raise ValidationError("Invalid input JSON: types must be a non-empty list")
    known = set(ASSOCIATION_TYPES.get((from_type, to_type), ()))
    out: set[int] = set()
    for spec in specs:
        raw = spec.get("associationTypeId") if isinstance(spec, dict) else None
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise ValidationError(f"Invalid input JSON: associationTypeId {raw!r} is not an integer")
        if int(raw) not in known:
            raise ValidationError(
                f"{raw} is not a valid association type id between {from_type} and {to_type}"
            )
        out.add(int(raw))
    return out


# -------------------------------------------------------------------------------- objects
def list_objects(ctx: Ctx) -> Result:
    """List a type with ``after`` paging (max 100); ``properties``, ``propertiesWithHistory``,
    ``associations``, ``archived`` [A, SPEC]; no ``paging`` on the last page [A, PY fetch_all];
    ``paging.next.link`` is an absolute URL keeping the request's query [B, ``_next_link``].

    Not faithful: order is by id and ``after`` is the next id (real cursors are opaque strings).
    """
    store = ctx.store()
    limit = ctx.int_param("limit", limits.LIST_DEFAULT_LIMIT, limits.LIST_MAX_LIMIT)
    after = ctx.request.query_params.get("after")
    archived = ctx.flag("archived")
    start = int(after) if after and after.isdigit() else 0
    ids = sorted(i for i, r in store.records.items() if r.archived == archived and i >= start)
    page = ids[:limit]
    props = ctx.multi("properties")
    hist = ctx.multi("propertiesWithHistory")
    assoc = ctx.multi("associations")
    doc: dict[str, Any] = {
        "results": [record_json(store, store.records[i], props, hist, assoc) for i in page]
    }
    if len(ids) > limit:
        nxt = str(ids[limit])
        doc["paging"] = {"next": {"after": nxt, "link": _next_link(ctx, nxt)}}
    return 200, doc


def _next_link(ctx: Ctx, after: str) -> str:
    """``paging.next.link``: the absolute URL of the next page, keeping the request's query parameters
    [B, a real answer quoted in hubspot-api-python #135: ``'link': 'https://api.hubapi.com/crm/v3/objects/
    0-2/6465999056/associations/0-1?portalId=26190935&after=MC0yLTc1MDI%3D'``]."""
    return str(ctx.request.url.remove_query_params("after").include_query_params(after=after))


def get_object(ctx: Ctx) -> Result:
    """Get by id or ``idProperty=email``; a merged-away id answers with the survivor [C]; archived needs
    ``archived=true`` [A].

    Not faithful: 404 body text is "resource not found" [C].
    """
    store = ctx.store()
    rec = store.get(
        ctx.params["objectId"],
        id_property=ctx.request.query_params.get("idProperty"),
        archived=ctx.flag("archived"),
    )
    return 200, record_json(
        store, rec, ctx.multi("properties"), ctx.multi("propertiesWithHistory"), ctx.multi("associations")
    )


def create_object(ctx: Ctx) -> Result:
    """Create (201) with optional inline associations [A]; duplicate email is 409 CONFLICT [B].

    An empty ``properties`` is refused (``NoPropertiesError``; text for creates unverified); ``null`` values
    are ignored; malformed emails are INVALID_EMAIL (``valid_email``).

    Not faithful: the exact email rule is HubSpot's own (the sandbox uses the public suffix list).
    """
    store = ctx.store()
    rec = store.create(_props_in(ctx.body, require=True), ctx.actor)
    for a in (ctx.body or {}).get("associations") or []:
        _inline_association(ctx, store, rec.id, a)
    return 201, record_json(store, rec, list(_props_in(ctx.body)))


def _inline_association(ctx: Ctx, store: ObjectStore, from_id: int, a: dict[str, Any]) -> None:
    to_id = _object_id((a.get("to") or {}).get("id") if isinstance(a, dict) else None)
    types = {
        int(str(t.get("associationTypeId")))
        for t in (a.get("types") or [])
        if isinstance(t, dict) and str(t.get("associationTypeId", "")).isdigit()
    }
    to_type = next(
        (t for (f, t), ids in ASSOCIATION_TYPES.items() if f == store.spec.name and (types & set(ids))),
        None,
    )
    if to_type is None:
        raise ValidationError(f"Unknown association types: {sorted(types)}")
    ctx.portal.store(to_type).get(str(to_id))
    ctx.portal.associate(store.spec.name, from_id, to_type, to_id, types, ctx.actor)


def update_object(ctx: Ctx) -> Result:
    """PATCH by id or ``idProperty``; ``""`` clears [A]; lifecycle forward-only rule by mode [A/B].

    ``null`` is ignored and keeps the old value [B, hubspot-api-nodejs #324, maintainer: "You can set empty
    string for it"]; ``{}`` is a 400 "No properties found to update" [B, hubspot-api-ruby #121].

    Not faithful: the ``reject`` mode error text is invented [C].
    """
    store = ctx.store()
    id_property = ctx.request.query_params.get("idProperty")
    if id_property:
        store.check_id_property(id_property)
    props = _props_in(ctx.body, require=True)
    rec = store.get(ctx.params["objectId"], id_property=id_property)
    store.update(rec, props, ctx.actor)
    return 200, record_json(store, rec, list(props))


def archive_object(ctx: Ctx) -> Result:
    """DELETE: soft archive, 204, also for unknown ids [B, n8n PR #3219].

    Not faithful: no restore endpoint and no 90-day purge.
    """
    ctx.store().archive(ctx.params["objectId"], ctx.actor)
    return 204, None


def merge_objects(ctx: Ctx) -> Result:
    """Merge: the primary survives with ``hs_merged_object_ids``; empty survivor properties take the merged
    values [C].

    Not faithful: HubSpot can mint a new id for the result; the sandbox always keeps the primary id.
    """
    store = ctx.store()
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if "primaryObjectId" not in body or "objectIdToMerge" not in body:
        raise ValidationError("primaryObjectId and objectIdToMerge are required")
    rec = store.merge(str(body["primaryObjectId"]), str(body["objectIdToMerge"]), ctx.actor)
    return 200, record_json(store, rec)


def gdpr_delete(ctx: Ctx) -> Result:
    """GDPR delete (contacts): permanent removal, 204, ``contact.privacyDeletion`` event [A, SPEC].

    Not faithful: the blocklisting of unknown emails is not modelled.
    """
    store = ctx.store()
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if "objectId" not in body:
        raise ValidationError("objectId is required")
    store.purge(str(body["objectId"]), ctx.actor, id_property=body.get("idProperty"))
    return 204, None


# -------------------------------------------------------------------------------- batch
def batch_read(ctx: Ctx) -> Result:
    """Batch read (100, 50 with histories) [B]; 207 with OBJECT_NOT_FOUND listing missing ids [B php #619];
    results in no guaranteed order (shuffled per ``batch_order_seed``) [B, nodejs #190].

    Not faithful: error message text [C]; ``idProperty`` on non-email unique properties scans linearly;
    one id twice is answered once, not refused (real behaviour not captured; update/upsert refuse it [B]).
    """
    store = ctx.store()
    body = ctx.body if isinstance(ctx.body, dict) else {}
    hist = body.get("propertiesWithHistory") or None
    inputs = _inputs(
        ctx, limits.BATCH_HISTORY_MAX_INPUTS if hist else limits.BATCH_MAX_INPUTS, history=bool(hist)
    )
    id_prop = body.get("idProperty")
    archived = ctx.flag("archived")
    results = []
    missing: list[str] = []
    seen: set[int] = set()
    for i in inputs:
        rid = str(i.get("id", ""))
        rec = store.find(rid, id_property=id_prop, archived=archived)
        if rec is None:
            missing.append(rid)
        elif rec.id not in seen:
            seen.add(rec.id)
            results.append(record_json(store, rec, body.get("properties"), hist))
    errors = []
    if missing:
        errors.append(ObjectNotFoundError(_missing_message(store), context={"ids": missing}).item_error())
    return _batch(results, errors, ctx, 200)


def batch_create(ctx: Ctx) -> Result:
    """Batch create (201); any invalid input or existing email refuses the whole batch [B, PY #51, Atlas
    #174]; results shuffled, each input's ``objectWriteTraceId`` echoed on its result [A, SPEC; B #190];
    an input without properties refuses the batch [C].

    Not faithful: a duplicate email inside one batch is a 400 with invented text [C].
    """
    store = ctx.store()
    inputs = _inputs(ctx)
    validated = [store.validate(_props_in(i, require=True)) for i in inputs]
    key = store.spec.unique_property
    seen: dict[str, int] = {}
    for v in validated:
        store.check_unique_free(v)
        if key and v.get(key):
            k = v[key].lower()
            if k in seen:
                raise ValidationError(f"Duplicate {key} in batch input: {v[key]}")
            seen[k] = 1
    recs = [store._insert(v, ctx.actor) for v in validated]
    results = [
        _traced(record_json(store, r, list(v)), i) for r, v, i in zip(recs, validated, inputs, strict=True)
    ]
    return _batch(results, [], ctx, 201)


def batch_update(ctx: Ctx) -> Result:
    """Batch update (200/207); invalid values refuse the whole batch [B]; unknown ids are 207 errors [C];
    one id twice is a 400 "Duplicate IDs found in batch input" [B, ``DuplicateIdsError``]; results
    shuffled with ``objectWriteTraceId`` echoed [A/B]; ``null`` ignored, ``{}`` refused [B].

    Not faithful: whether real HubSpot answers 207 or 400 for unknown ids is not captured.
    """
    store = ctx.store()
    inputs = _inputs(ctx)
    _check_unique_ids(inputs)
    prepared: list[tuple[Record, dict[str, str], dict[str, Any]]] = []
    missing: list[str] = []
    for i in inputs:
        rid = str(i.get("id", ""))
        props = store.validate(_props_in(i, require=True))
        rec = store.find(rid, id_property=i.get("idProperty"), write=True)
        if rec is None:
            missing.append(rid)
            continue
        store.check_unique_free(props, own_id=rec.id)
        prepared.append((rec, props, i))
    results = [
        _traced(record_json(store, store._apply_update(rec, props, ctx.actor), list(props)), i)
        for rec, props, i in prepared
    ]
    errors = []
    if missing:
        errors.append(ObjectNotFoundError(_missing_message(store), context={"ids": missing}).item_error())
    return _batch(results, errors, ctx, 200)


def batch_upsert(ctx: Ctx) -> Result:
    """Batch upsert by a unique property (``email``); results carry ``new`` [A, SPEC]; one id twice
    (emails compared case-insensitively [C]) is a 400 "Duplicate IDs found in batch input" [B]; one
    INVALID_EMAIL refuses the whole batch [B]; results shuffled with ``objectWriteTraceId`` echoed [A/B].

    Not faithful: partial-failure (207) answers for upsert are never produced.
    """
    store = ctx.store()
    inputs = _inputs(ctx)
    _check_unique_ids(inputs, fold_case=any(str(i.get("idProperty") or "") == "email" for i in inputs))
    plan: list[tuple[Record | None, dict[str, str], str, str, dict[str, Any]]] = []
    for i in inputs:
        id_prop = str(i.get("idProperty") or "")
        if not id_prop:
            raise ValidationError("idProperty is required for upsert")
        value = str(i.get("id", ""))
        props = store.validate(_props_in(i))
        rec = store.find(value, id_property=id_prop, write=True)
        if id_prop != store.spec.unique_property:
            # UNVERIFIED: an upsert keyed by another unique property whose email another contact holds
            # is refused like a create (409 "Contact already exists. Existing ID: N").
            store.check_unique_free(props, own_id=rec.id if rec is not None else None)
        plan.append((rec, props, id_prop, value, i))
    results = []
    for found, props, id_prop, value, given in plan:
        if found is None:
            rec = store._insert({**props, id_prop: value}, ctx.actor)
        else:
            rec = store._apply_update(found, props, ctx.actor)
        doc = record_json(store, rec, [*props, id_prop])
        doc["new"] = found is None
        results.append(_traced(doc, given))
    return _batch(results, [], ctx, 200)


def batch_archive(ctx: Ctx) -> Result:
    """Batch archive, 204 [A].

    Not faithful: one id twice is archived once, not refused (real behaviour not captured).
    """
    store = ctx.store()
    for i in _inputs(ctx):
        store.archive(str(i.get("id", "")), ctx.actor)
    return 204, None


def search(ctx: Ctx) -> Result:
    """Search: filterGroups/operators/sorts/query, limit 200, numeric ``after``, index lag (on by default)
    [A/B]. At the 10,000-result ceiling ``paging.next`` is still offered and asking for it is a 400;
    that 400 and a filter on an unknown property are the generic "There was a problem with the request."
    without ``category`` [B, ``BadRequestError``].

    Not faithful: free-text ``query`` matches tokens of all property values (HubSpot searches a default
    set); which other search errors are generic is unverified (limit violations keep a
    VALIDATION_ERROR text [C]); no rate-limit headers on search answers [C].
    """
    store = ctx.store()
    req = parse_request(ctx.body if isinstance(ctx.body, dict) else {})
    total, page, nxt = store.search(req)
    doc: dict[str, Any] = {
        "total": total,
        "results": [record_json(store, r, req.properties) for r in page],
    }
    if nxt is not None:
        doc["paging"] = {"next": {"after": str(nxt)}}
    return 200, doc


# -------------------------------------------------------------------------------- properties
def properties_list(ctx: Ctx) -> Result:
    """List property definitions of a type [A, SPEC].

    Not faithful: ``dataSensitivity``/``locale`` are ignored.
    """
    store = ctx.store()
    archived = ctx.flag("archived")
    return 200, {"results": [p.to_json(iso) for p in store.properties.values() if p.archived == archived]}


def property_get(ctx: Ctx) -> Result:
    """One property definition [A, SPEC].

    Not faithful: none known.
    """
    store = ctx.store()
    prop = store.properties.get(ctx.params["propertyName"])
    if prop is None or prop.archived:
        raise ObjectNotFoundError(f"Unable to find property {ctx.params['propertyName']}")
    return 200, prop.to_json(iso)


def property_create(ctx: Ctx) -> Result:
    """Create a custom property (201) [A, SPEC].

    Not faithful: duplicate-name 409 body is [C]; groups are not validated.
    """
    store = ctx.store()
    prop = property_from_json(ctx.body if isinstance(ctx.body, dict) else {}, ctx.portal.clock.now_ms())
    if prop.name in store.properties:
        raise PropertyExistsError(prop.name)
    store.properties[prop.name] = prop
    return 201, prop.to_json(iso)


def property_update(ctx: Ctx) -> Result:
    """Edit label/description/options; ``options`` replaces the list [A, SPEC].

    Not faithful: read-only definitions are still editable.
    """
    store = ctx.store()
    prop = store.properties.get(ctx.params["propertyName"])
    if prop is None:
        raise ObjectNotFoundError(f"Unable to find property {ctx.params['propertyName']}")
    apply_property_patch(prop, ctx.body if isinstance(ctx.body, dict) else {}, ctx.portal.clock.now_ms())
    return 200, prop.to_json(iso)


# -------------------------------------------------------------------------------- associations v4
def _assoc_types(ctx: Ctx) -> tuple[str, str]:
    p = ctx.request.path_params
    return resolve_type(p.get("objectType") or p["fromObjectType"]), resolve_type(p["toObjectType"])


def assoc_create_default(ctx: Ctx) -> Result:
    """v4: create the default association (200 batch-shaped answer) [A, SPEC].

    Not faithful: type ids are from memory [C].
    """
    from_type, to_type = _assoc_types(ctx)
    fid, tid = _object_id(ctx.params["objectId"]), _object_id(ctx.params["toObjectId"])
    ctx.portal.store(from_type).get(str(fid))
    ctx.portal.store(to_type).get(str(tid))
    default = ASSOCIATION_TYPES[(from_type, to_type)][0]
    ctx.portal.associate(from_type, fid, to_type, tid, {default}, ctx.actor)
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": default}
    return _batch([{"from": {"id": str(fid)}, "to": {"id": str(tid)}, "associationSpec": spec}], [], ctx, 200)


def assoc_create_labelled(ctx: Ctx) -> Result:
    """v4: associate with explicit type ids (201 ``LabelsBetweenObjectPair``) [A, SPEC]; type ids not
    defined for the pair are a 400 [C].

    Not faithful: custom labels are not modelled; the refusal text is [C].
    """
    from_type, to_type = _assoc_types(ctx)
    fid, tid = _object_id(ctx.params["objectId"]), _object_id(ctx.params["toObjectId"])
    ctx.portal.store(from_type).get(str(fid))
    ctx.portal.store(to_type).get(str(tid))
    types = _association_type_ids(from_type, to_type, ctx.body)
    ctx.portal.associate(from_type, fid, to_type, tid, types, ctx.actor)
    return 201, {
        "fromObjectTypeId": OBJECT_TYPES[from_type].type_id,
        "fromObjectId": fid,
        "toObjectTypeId": OBJECT_TYPES[to_type].type_id,
        "toObjectId": tid,
        "labels": [],
    }


def _assoc_types_json(from_type: str, to_type: str, types: set[int]) -> list[dict[str, Any]]:
    primary = ASSOCIATION_TYPES[(from_type, to_type)][1]
    return [
        {
            "category": "HUBSPOT_DEFINED",
            "typeId": t,
            "label": "Primary" if t == primary and t not in (3, 4) else None,
        }
        for t in sorted(types)
    ]


def assoc_list(ctx: Ctx) -> Result:
    """v4: list associations of one object (limit 500, ``after``) [A, SPEC].

    Not faithful: labels other than "Primary" are not modelled.
    """
    from_type, to_type = _assoc_types(ctx)
    limit = ctx.int_param("limit", limits.ASSOCIATIONS_DEFAULT_LIMIT, limits.ASSOCIATIONS_MAX_LIMIT)
    after = ctx.request.query_params.get("after")
    links = ctx.portal.associated(from_type, _object_id(ctx.params["objectId"]), to_type)
    start = int(after) if after and after.isdigit() else 0
    page = links[start : start + limit]
    doc: dict[str, Any] = {
        "results": [
            {"toObjectId": tid, "associationTypes": _assoc_types_json(from_type, to_type, types)}
            for tid, types in page
        ]
    }
    if start + limit < len(links):
        doc["paging"] = {"next": {"after": str(start + limit)}}
    return 200, doc


def assoc_delete(ctx: Ctx) -> Result:
    """v4: remove all associations between two objects, 204 [A, SPEC].

    Fires ``associationChange`` with ``associationRemoved: true`` for both objects [B].

    Not faithful: none known.
    """
    from_type, to_type = _assoc_types(ctx)
    ctx.portal.dissociate(
        from_type,
        _object_id(ctx.params["objectId"]),
        to_type,
        _object_id(ctx.params["toObjectId"]),
        ctx.actor,
    )
    return 204, None


def assoc_batch_read(ctx: Ctx) -> Result:
    """v4: batch read associations [A, SPEC]. An id with no associations of that type (or no such object)
    is left out of ``results`` and reported in ``errors[]`` with subCategory
    ``crm.associations.NO_ASSOCIATIONS_FOUND``; the answer is then 207 (``NoAssociationsFoundError``) [B].

    Not faithful: whether an id that does not exist gets a different error is not captured.
    """
    from_type, to_type = _assoc_types(ctx)
    results = []
    errors = []
    for i in _inputs(ctx, 1000):
        fid = _object_id(i.get("id"))
        links = ctx.portal.associated(from_type, fid, to_type)
        if not links:
            errors.append(
                NoAssociationsFoundError(
                    OBJECT_TYPES[from_type].singular, str(fid), OBJECT_TYPES[to_type].singular
                ).item_error()
            )
            continue
        results.append(
            {
                "from": {"id": str(fid)},
                "to": [
                    {"toObjectId": tid, "associationTypes": _assoc_types_json(from_type, to_type, types)}
                    for tid, types in links
                ],
            }
        )
    return _batch(results, errors, ctx, 200)


def assoc_batch_create(ctx: Ctx) -> Result:
    """v4: batch create associations with explicit types (201 ``LabelsBetweenObjectPair`` results) [A, SPEC].

    Not faithful: objects are not checked for existence; labels are always empty.
    """
    from_type, to_type = _assoc_types(ctx)
    results = []
    for i in _inputs(ctx, 2000):
        fid, tid = _object_id((i.get("from") or {}).get("id")), _object_id((i.get("to") or {}).get("id"))
        types = _association_type_ids(from_type, to_type, i.get("types"))
        ctx.portal.associate(from_type, fid, to_type, tid, types, ctx.actor)
        results.append(
            {
                "fromObjectTypeId": OBJECT_TYPES[from_type].type_id,
                "fromObjectId": fid,
                "toObjectTypeId": OBJECT_TYPES[to_type].type_id,
                "toObjectId": tid,
                "labels": [],
            }
        )
    return _batch(results, [], ctx, 201)


def assoc_batch_archive(ctx: Ctx) -> Result:
    """v4: batch remove associations, 204 [A, SPEC].

    Fires ``associationChange`` with ``associationRemoved: true`` for both objects [B].

    Not faithful: none known.
    """
    from_type, to_type = _assoc_types(ctx)
    for i in _inputs(ctx, 2000):
        fid = _object_id((i.get("from") or {}).get("id"))
        for to in i.get("to") or []:
            ctx.portal.dissociate(
                from_type, fid, to_type, _object_id(to.get("id") if isinstance(to, dict) else None), ctx.actor
            )
    return 204, None


def assoc_batch_default(ctx: Ctx) -> Result:
    """v4: batch create default associations [A, SPEC].

    Not faithful: objects are not checked for existence.
    """
    from_type, to_type = _assoc_types(ctx)
    default = ASSOCIATION_TYPES[(from_type, to_type)][0]
    results = []
    for i in _inputs(ctx, 2000):
        fid, tid = _object_id((i.get("from") or {}).get("id")), _object_id((i.get("to") or {}).get("id"))
        ctx.portal.associate(from_type, fid, to_type, tid, {default}, ctx.actor)
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": default}
        results.append({"from": {"id": str(fid)}, "to": {"id": str(tid)}, "associationSpec": spec})
    return _batch(results, [], ctx, 200)


# -------------------------------------------------------------------------------- oauth
def oauth_token(ctx: Ctx) -> Result:
    """OAuth refresh (form-encoded ``grant_type=refresh_token``) → new access token, ``expires_in`` 1800
    [A/B].

    Not faithful: ``authorization_code`` grant is not implemented; error bodies are [C].
    """
    form = ctx.body if isinstance(ctx.body, dict) else {}
    return 200, ctx.portal.backend.auth.refresh({k: str(v) for k, v in form.items()}, ctx.portal.id)


def oauth_access_token_info(ctx: Ctx) -> Result:
    """OAuth access-token introspection [A, SPEC].

    Not faithful: minimal field set.
    """
    auth = ctx.portal.backend.auth
    token = ctx.params["token"]
    entry = auth.access_tokens.get(token)
    if entry is None:
        raise ObjectNotFoundError("Token not found")
    portal, app, expires = entry
    return 200, {
        "token": token,
        "hub_id": portal,
        "app_id": app,
        "user_id": 1,
        "expires_in": max(0, (expires - auth.clock.now_ms()) // 1000),
        "token_type": "access",
        "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write"],
    }


def error_json(exc: HubSpotError) -> bytes:
    return json.dumps(exc.body()).encode()


# -------------------------------------------------------------------------------- webhooks v3 (app settings)
def _webhook_app(ctx: Ctx) -> Any:
    cfg = ctx.portal.webhooks
    if str(ctx.params["appId"]) != str(cfg.app_id):
        raise ObjectNotFoundError(f"App {ctx.params['appId']} not found")
    return cfg


def _subscription_json(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sub.items() if v is not None}


def webhook_settings_get(ctx: Ctx) -> Result:
    """Webhook settings of the app (developer key) [A, SPEC webhooks v3].

    Not faithful: 404 body when no settings exist is [C].
    """
    cfg = _webhook_app(ctx)
    if cfg.target_url is None:
        raise ObjectNotFoundError("No webhook settings for this app")
    return 200, {
        "targetUrl": cfg.target_url,
        "throttling": {"maxConcurrentRequests": cfg.max_concurrent_requests},
        "createdAt": iso(cfg.settings_created_ms),
        "updatedAt": iso(cfg.settings_updated_ms),
    }


def webhook_settings_put(ctx: Ctx) -> Result:
    """Set ``targetUrl`` and throttling [A, SPEC webhooks v3].

    HubSpot requires an HTTPS target [A, webhooks guide: "the target URL ... must be HTTPS"; unverified
    wording of the refusal].

    Not faithful: ``http://`` is accepted for loopback hosts (127.0.0.1, localhost, ::1) so local
    receivers can be tested; any other non-HTTPS target is refused.
    """
    cfg = _webhook_app(ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if not body.get("targetUrl") or not isinstance(body["targetUrl"], str):
        raise ValidationError("targetUrl is required")
    target = urlsplit(body["targetUrl"])
    loopback = target.scheme == "http" and target.hostname in ("127.0.0.1", "localhost", "::1")
    if not target.hostname or (target.scheme != "https" and not loopback):
        raise ValidationError(f"targetUrl must be an HTTPS URL: {body['targetUrl']}")
    now = ctx.portal.clock.now_ms()
    cfg.target_url = str(body["targetUrl"])
    cfg.max_concurrent_requests = int((body.get("throttling") or {}).get("maxConcurrentRequests", 10))
    cfg.settings_created_ms = cfg.settings_created_ms or now
    cfg.settings_updated_ms = now
    return webhook_settings_get(ctx)


def webhook_settings_delete(ctx: Ctx) -> Result:
    """Remove the target URL: no more deliveries, 204 [A, SPEC webhooks v3].

    Not faithful: none known.
    """
    _webhook_app(ctx).target_url = None
    return 204, None


def webhook_subscriptions_list(ctx: Ctx) -> Result:
    """List the app's subscriptions [A, SPEC webhooks v3].

    Not faithful: none known.
    """
    cfg = _webhook_app(ctx)
    return 200, {"results": [_subscription_json(s) for s in cfg.api_subscriptions.values()]}


def webhook_subscription_create(ctx: Ctx) -> Result:
    """Subscribe to an event type (``propertyName`` for propertyChange), 201 [A, SPEC webhooks v3].

    Only HubSpot's event types are accepted (``WEBHOOK_EVENT_TYPES``) [A, SPEC webhooks v3
    ``SubscriptionCreateRequest.eventType`` enum]; a propertyChange subscription needs ``propertyName``
    [A, webhooks guide].

    Not faithful: the refusal texts are [C].
    """
    cfg = _webhook_app(ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    event_type = str(body.get("eventType", ""))
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValidationError(f"Unsupported eventType: {event_type}")
    if event_type.endswith(".propertyChange") and not body.get("propertyName"):
        raise ValidationError("propertyName is required for propertyChange subscriptions")
    now = iso(ctx.portal.clock.now_ms())
    sub_id = max(cfg.api_subscriptions, default=1000) + 1
    sub = {
        "id": str(sub_id),
        "eventType": event_type,
        "propertyName": body.get("propertyName"),
        "active": bool(body.get("active", False)),
        "createdAt": now,
        "updatedAt": now,
    }
    cfg.api_subscriptions[sub_id] = sub
    return 201, _subscription_json(sub)


def _subscription(ctx: Ctx) -> dict[str, Any]:
    cfg = _webhook_app(ctx)
    try:
        return dict(cfg.api_subscriptions[int(ctx.params["subscriptionId"])])
    except (KeyError, ValueError):
        raise ObjectNotFoundError(f"Subscription {ctx.params['subscriptionId']} not found") from None


def webhook_subscription_get(ctx: Ctx) -> Result:
    """One subscription [A, SPEC webhooks v3].

    Not faithful: none known.
    """
    return 200, _subscription_json(_subscription(ctx))


def webhook_subscription_patch(ctx: Ctx) -> Result:
    """Activate/deactivate a subscription [A, SPEC webhooks v3].

    Not faithful: none known.
    """
    sub = _subscription(ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if "active" in body:
        sub["active"] = bool(body["active"])
    sub["updatedAt"] = iso(ctx.portal.clock.now_ms())
    ctx.portal.webhooks.api_subscriptions[int(sub["id"])] = sub
    return 200, _subscription_json(sub)


def webhook_subscription_delete(ctx: Ctx) -> Result:
    """Delete a subscription, 204 [A, SPEC webhooks v3].

    Not faithful: none known.
    """
    sub = _subscription(ctx)
    del ctx.portal.webhooks.api_subscriptions[int(sub["id"])]
    return 204, None
