"""Request handlers: parse the request, call the model, serialise the answer. No business rules here.

Each handler's docstring names its source and what is not yet faithful.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox.salesforce import control, ingest, soql
from sandbox.salesforce import errors as err
from sandbox.salesforce import versions as api_versions
from sandbox.salesforce.engine import Compiled, page, parse_batch_size, record_json, run_query
from sandbox.salesforce.ids import (
    BULK_JOB_PREFIX,
    MASTER_RECORD_TYPE_ID,
    PREFIX_TO_OBJECT,
    is_valid_id,
    make_id,
    to_18,
)
from sandbox.salesforce.models import (
    COLLECTION_MAX,
    Backend,
    FaultRule,
    Org,
    Session,
    format_datetime,
)
from sandbox.salesforce.schema import SCHEMA, FieldDef, ObjectDef, describe_global_entry, describe_object
from sandbox.salesforce.seed import seed_org

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass
class Reply:
    status: int
    body: Any = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class Ctx:
    backend: Backend
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base_url: str
    org: Org | None = None
    session: Session | None = None

    @property
    def version(self) -> str:
        return self.params.get("v", "59.0")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, RecursionError) as exc:  # incl. bytes that are not UTF-8, deep nesting
            raise err.JsonParserError(f"Unexpected character: was expecting JSON ({exc})") from exc

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def allow_duplicates(self) -> bool:
        header = self.headers.get("sforce-duplicate-rule-header", "")
        return "allowsave=true" in header.replace(" ", "").lower()

    @property
    def auto_assign(self) -> bool:
        """``Sforce-Auto-Assign``: absent or TRUE (or a rule id) runs assignment rules, FALSE does not
        (api_rest headers_autoassign.htm)."""
        return self.headers.get("sforce-auto-assign", "TRUE").strip().lower() not in {"false", "0"}

    @property
    def user_id(self) -> str:
        assert self.session is not None
        return self.session.user_id

    def the_org(self) -> Org:
        assert self.org is not None
        return self.org


def _save_ok(record_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": [], **extra}


# -- REST: discovery, describe, limits ----------------------------------------------------------
def versions(ctx: Ctx) -> Reply:
    """``GET /services/data``: no auth, no Sforce-Limit-Info, 31.0 to the org's release (dome_versions.htm).

    Sources in ``versions.py``."""
    return Reply(200, api_versions.listing(ctx.backend.default_org.latest_api_version))


def resources(ctx: Ctx) -> Reply:
    """Resources of a version (api_rest resources_discoveryresource.htm); only those served here."""
    v = ctx.version
    names = ["limits", "query", "queryAll", "sobjects", "composite", "jobs"]
    return Reply(200, {n: f"/services/data/v{v}/{n}" for n in names})


def limits(ctx: Ctx) -> Reply:
    """``GET /limits`` (api_rest resources_limits.htm). Only the keys this project reads are live."""
    org = ctx.the_org()
    return Reply(
        200,
        {
            "DailyApiRequests": {"Max": org.api_max, "Remaining": max(0, org.api_max - org.api_used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(org_jobs(org))},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkApiRequests": {"Max": 15000, "Remaining": 15000},
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        },
    )


def describe_global(ctx: Ctx) -> Reply:
    """Global describe ``{encoding, maxBatchSize, sobjects}`` (api_rest resources_describeGlobal.htm)."""
    return Reply(
        200,
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [describe_global_entry(o, ctx.version) for o in SCHEMA.values()],
        },
    )


def sobject_info(ctx: Ctx) -> Reply:
    """sObject basic info ``{objectDescribe, recentItems}``; recentItems is always empty here."""
    obj = ctx.the_org().object_def(ctx.params["obj"])
    return Reply(200, {"objectDescribe": describe_global_entry(obj, ctx.version), "recentItems": []})


def describe(ctx: Ctx) -> Reply:
    """``GET /sobjects/X/describe`` with picklist values and ``restrictedPicklist``.

    Source: api_rest resources_sobject_describe.htm."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    user = ctx.session.user_id if ctx.session is not None else None
    return Reply(
        200,
        describe_object(
            obj,
            ctx.version,
            lambda name: org.access(user, obj.name, name),
            org.record_type_infos(obj.name, ctx.version),
            ctx.base_url,
        ),
    )


def _picklist_values(ctx: Ctx, obj: ObjectDef, record_type_id: str, f: FieldDef) -> dict[str, Any]:
    org = ctx.the_org()
    allowed = org.allowed_values(obj, record_type_id, f.name)
    base = f"/services/data/v{ctx.version}/ui-api/object-info/{obj.name}/picklist-values"
    url = f"{base}/{record_type_id}/{f.name}"
    default = org.default_value(obj, record_type_id, f.name)

    def item(value: str) -> dict[str, Any]:
        return {"attributes": None, "label": value, "validFor": [], "value": value}

    return {
        "controllerValues": {},
        "defaultValue": item(default) if default is not None and any(v.default for v in f.picklist) else None,
        "eTag": _etag([record_type_id, f.name, *sorted(allowed)]),
        "url": url,
        "values": [item(v.value) for v in f.picklist if v.active and v.value in allowed],
    }


def _etag(parts: Any) -> str:
    """A stable eTag for a UI API answer (its format on a real org is opaque)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _record_type_for(ctx: Ctx, obj: ObjectDef) -> str:
    """The path's record type id: the master or one of the object's types (else 404, UNVERIFIED)."""
    rt_id = ctx.params["id"]
    if rt_id in {MASTER_RECORD_TYPE_ID, MASTER_RECORD_TYPE_ID[:15]}:
        return MASTER_RECORD_TYPE_ID
    for rt in ctx.the_org().record_types_of(obj.name):
        if rt_id in {rt["Id"], rt["Id"][:15]}:
            return str(rt["Id"])
    raise err.NotFound()


def picklist_values_collection(ctx: Ctx) -> Reply:
    """UI API ``GET /ui-api/object-info/{obj}/picklist-values/{recordTypeId}`` (uiapi
    ui_api_resources_picklist_values_collection.htm, API 42.0+): every picklist field the caller can see,
    with the values the record type allows (Picklist Values Collection: ``picklistFieldValues``)."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    rt_id = _record_type_for(ctx, obj)
    fields = [f for f in _readable_fields(ctx, obj, None) if f.type == "picklist"]
    values = {f.name: _picklist_values(ctx, obj, rt_id, f) for f in fields}
    return Reply(200, {"eTag": _etag(json.dumps(values, sort_keys=True)), "picklistFieldValues": values})


def picklist_values(ctx: Ctx) -> Reply:
    """UI API ``GET /ui-api/object-info/{obj}/picklist-values/{recordTypeId}/{field}`` (uiapi
    ui_api_resources_picklist_values.htm, API 41.0+): one field's values for the record type."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    rt_id = _record_type_for(ctx, obj)
    (f,) = _readable_fields(ctx, obj, [ctx.params["field"]])
    if f.type != "picklist":
        raise err.NotFound()  # UNVERIFIED: the answer for a field that is not a picklist
    return Reply(200, _picklist_values(ctx, obj, rt_id, f))


# -- REST: records ------------------------------------------------------------------------------
def get_record(ctx: Ctx) -> Reply:
    """``GET /sobjects/X/{id}[?fields=a,b]``; 404 NOT_FOUND / ENTITY_IS_DELETED."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    rec = org.get(obj.name, ctx.params["id"])
    wanted = ctx.arg("fields")
    fields = _readable_fields(ctx, obj, wanted.split(",") if wanted else None)
    return Reply(200, record_json(ctx.version, obj, rec, fields))


def _readable_fields(ctx: Ctx, obj: ObjectDef, names: list[str] | None) -> list[FieldDef]:
    """The fields named (all when ``names`` is None) that the caller may read; a named field that is
    missing or hidden by field-level security is INVALID_FIELD (``Org.access``)."""
    org = ctx.the_org()
    user = ctx.session.user_id if ctx.session is not None else None
    if names is None:
        return [f for f in obj.fields.values() if org.access(user, obj.name, f.name) != "none"]
    fields = []
    for name in names:
        f = obj.field_ci(name.strip())
        if f is None or org.access(user, obj.name, f.name) == "none":
            raise err.InvalidField(f"No such column '{name.strip()}' on sobject of type {obj.name}")
        fields.append(f)
    return fields


def get_by_external_id(ctx: Ctx) -> Reply:
    """Record by external id; 300 with record URLs when several match (api_rest dome_upsert.htm)."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    f = obj.field_ci(ctx.params["field"])
    if f is None or not f.external_id or org.access(ctx.user_id, obj.name, f.name) == "none":
        raise err.NotFound(
            f"Provided external ID field does not exist or is not accessible: {ctx.params['field']}"
        )
    value = unquote(ctx.params["value"])
    store = org.stores[obj.name]
    matches = sorted(i for i in store.lookup(f.name, value) if not store.records[i]["IsDeleted"])
    if not matches:
        raise err.NotFound()
    if len(matches) > 1:
        raise err.MultipleChoices([f"/services/data/v{ctx.version}/sobjects/{obj.name}/{i}" for i in matches])
    return Reply(
        200, record_json(ctx.version, obj, store.records[matches[0]], _readable_fields(ctx, obj, None))
    )


def create_record(ctx: Ctx) -> Reply:
    """``POST /sobjects/X/`` → 201 ``{"id","success":true,"errors":[]}`` (api_rest dome_sobject_create)."""
    body = ctx.json()
    if not isinstance(body, dict):
        raise err.JsonParserError("Can not deserialize SObject out of START_ARRAY token")
    record_id = ctx.the_org().create(
        ctx.params["obj"],
        body,
        ctx.user_id,
        allow_duplicates=ctx.allow_duplicates,
        auto_assign=ctx.auto_assign,
    )
    return Reply(201, _save_ok(record_id))


def update_record(ctx: Ctx) -> Reply:
    """``PATCH /sobjects/X/{id}`` → 204 (api_rest dome_update_fields)."""
    body = ctx.json()
    if not isinstance(body, dict):
        raise err.JsonParserError("Can not deserialize SObject out of START_ARRAY token")
    ctx.the_org().update(
        ctx.params["obj"],
        ctx.params["id"],
        body,
        ctx.user_id,
        allow_duplicates=ctx.allow_duplicates,
        auto_assign=ctx.auto_assign,
    )
    return Reply(204)


def delete_record(ctx: Ctx) -> Reply:
    """``DELETE /sobjects/X/{id}`` → 204; again → 404 ENTITY_IS_DELETED."""
    ctx.the_org().delete(ctx.params["obj"], ctx.params["id"], ctx.user_id)
    return Reply(204)


def upsert_record(ctx: Ctx) -> Reply:
    """Upsert by external id: 201 created, 200 updated (``created`` from API 46.0), 300 several, 404 field.

    ``PATCH /sobjects/X/{ExtField}/{value}``: 201 created, 200 updated with ``created:false`` from API 46.0
    (204 before; the 200-vs-204 split for updates is UNVERIFIED, reference §2b), 300 list of URLs when the
    value matches several records, 404 NOT_FOUND for an unknown external-id field."""
    body = ctx.json()
    if not isinstance(body, dict):
        raise err.JsonParserError("Can not deserialize SObject out of START_ARRAY token")
    try:
        record_id, created = ctx.the_org().upsert(
            ctx.params["obj"],
            ctx.params["field"],
            unquote(ctx.params["value"]),
            body,
            ctx.user_id,
            allow_duplicates=ctx.allow_duplicates,
            auto_assign=ctx.auto_assign,
        )
    except err.MultipleChoices as exc:
        raise err.MultipleChoices([u.replace("{version}", ctx.version) for u in exc.urls]) from exc
    new_api = float(ctx.version) >= 46.0
    if created:
        return Reply(201, _save_ok(record_id, created=True) if new_api else _save_ok(record_id))
    return Reply(200, _save_ok(record_id, created=False)) if new_api else Reply(204)


def updated(ctx: Ctx) -> Reply:
    """``GET /sobjects/X/updated/?start&end`` (resources-getupdated): minute-truncated window, 30 days max."""
    ids, latest = ctx.the_org().updated_ids(ctx.params["obj"], ctx.arg("start") or "", ctx.arg("end") or "")
    return Reply(200, {"ids": ids, "latestDateCovered": format_datetime(latest)})


def deleted(ctx: Ctx) -> Reply:
    """``GET /sobjects/X/deleted/?start&end`` (resources-getdeleted)."""
    rows, earliest, latest = ctx.the_org().deleted_records(
        ctx.params["obj"], ctx.arg("start") or "", ctx.arg("end") or ""
    )
    return Reply(
        200,
        {
            "deletedRecords": [{"id": i, "deletedDate": format_datetime(when)} for i, when in rows],
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(latest),
        },
    )


# -- REST: query --------------------------------------------------------------------------------
def _query(ctx: Ctx, include_deleted: bool) -> Reply:
    """``GET /query/?q=`` and ``/queryAll/?q=``: batches of 2000 (``Sforce-Query-Options: batchSize``)."""
    text = ctx.arg("q")
    if text is None:
        raise err.MalformedQuery("A query string must be provided.")
    batch = parse_batch_size(ctx.headers.get("sforce-query-options"))
    return Reply(
        200, run_query(ctx.the_org(), text, ctx.version, include_deleted, batch, session=ctx.session)
    )


def query(ctx: Ctx) -> Reply:
    """SOQL query, batches of 2000 or ``Sforce-Query-Options: batchSize`` (api_rest resources_query.htm)."""
    return _query(ctx, False)


def query_all(ctx: Ctx) -> Reply:
    """Like ``query`` but includes deleted rows (api_rest resources_queryall.htm)."""
    return _query(ctx, True)


def query_more(ctx: Ctx) -> Reply:
    """``GET /query/{locator}-{offset}``; unknown or expired locator → 400 INVALID_QUERY_LOCATOR.

    UNVERIFIED: the status of INVALID_QUERY_LOCATOR."""
    include_deleted = ctx.path.split("/")[4] == "queryAll"
    return Reply(
        200,
        page(
            ctx.the_org(),
            ctx.params["locator"],
            int(ctx.params["pos"]),
            ctx.version,
            include_deleted,
            session=ctx.session,
        ),
    )


# -- REST: sObject Collections ------------------------------------------------------------------
def _collection_body(ctx: Ctx) -> tuple[bool, list[Any]]:
    body = ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise err.JsonParserError("Unexpected parameter encountered during deserialization: records")
    records = body["records"]
    if len(records) > COLLECTION_MAX:
        # UNVERIFIED message; the 200 cap is documented (resources_composite_sobjects_collections_*).
        raise err.ExceededIdLimit("record limit reached. cannot submit more than 200 records into this call")
    return bool(body.get("allOrNone", False)), records


def _collection_write(ctx: Ctx, creating: bool) -> Reply:
    """``POST|PATCH /composite/sobjects``: 200 with one SaveResult per record, in request order; with
    ``allOrNone`` nothing commits if any record fails and the rest report ALL_OR_NONE_OPERATION_ROLLED_BACK
    (api_rest resources_composite_sobjects_collections_update.htm / _create.htm example bodies: failed
    records carry no ``id``; rolled-back updates do). UNVERIFIED: INVALID_CROSS_REFERENCE_KEY for a
    well-formed id that names no record."""
    org = ctx.the_org()
    all_or_none, records = _collection_body(ctx)
    results: list[dict[str, Any] | None] = [None] * len(records)
    prepared: list[tuple[int, str, dict[str, Any]]] = []
    # The body is deserialised before any record is processed: a value of the wrong JSON type fails
    # the whole request with 400 JSON_PARSER_ERROR (UNVERIFIED: from memory of real answers).
    for item in records:
        if (
            isinstance(item, dict)
            and isinstance(item.get("attributes"), dict)
            and item["attributes"].get("type")
        ):
            with contextlib.suppress(err.NotFound):  # an unknown type is reported per record below
                org.check_json_types(item["attributes"]["type"], item)
    with org.lock:
        for i, item in enumerate(records):
            try:
                obj_name = _record_type(item)
                values = {k: v for k, v in item.items() if k != "attributes"}
                if creating:
                    rec = org.prepare_create(
                        obj_name,
                        values,
                        ctx.user_id,
                        allow_duplicates=ctx.allow_duplicates,
                        auto_assign=ctx.auto_assign,
                    )
                else:
                    record_id = next((v for k, v in values.items() if k.lower() == "id"), None)
                    if not record_id:
                        raise err.SalesforceApiError("Id not specified in an update call", [])
                    org.check_id(org.object_def(obj_name), str(record_id))
                    try:
                        rec = org.prepare_update(
                            obj_name,
                            str(record_id),
                            values,
                            allow_duplicates=ctx.allow_duplicates,
                            auto_assign=ctx.auto_assign,
                            user_id=ctx.user_id,
                        )
                    except err.NotFound as exc:
                        raise err.InvalidCrossReferenceKey() from exc
                if all_or_none:
                    prepared.append((i, obj_name, rec))
                else:
                    results[i] = _save_ok(org.commit(obj_name, rec, ctx.user_id))
            except err.SalesforceApiError as exc:
                # A failed record's result carries no id; records rolled back by allOrNone do.
                results[i] = {"success": False, "errors": [_missing_argument(exc)]}
        if all_or_none:
            if any(r is not None for r in results):
                for i, _, rec in prepared:
                    results[i] = {"success": False, "errors": [err.AllOrNoneRolledBack().save_error()]}
                    if not creating:
                        results[i] = {"id": rec["Id"], **results[i]}  # type: ignore[dict-item]
            else:
                for i, obj_name, rec in prepared:
                    results[i] = _save_ok(org.commit(obj_name, rec, ctx.user_id))
    return Reply(200, results)


def _missing_argument(exc: err.SalesforceApiError) -> dict[str, Any]:
    error = exc.save_error()
    if type(exc) is err.SalesforceApiError:
        error["statusCode"] = "MISSING_ARGUMENT"
    return error


def collection_create(ctx: Ctx) -> Reply:
    """sObject Collections create; per-record SaveResults in order (see ``_collection_write``)."""
    return _collection_write(ctx, creating=True)


def collection_update(ctx: Ctx) -> Reply:
    """sObject Collections update; per-record SaveResults in order (see ``_collection_write``)."""
    return _collection_write(ctx, creating=False)


def collection_upsert(ctx: Ctx) -> Reply:
    """sObject Collections upsert on an external id: UpsertResults in order with ``created``.

    ``PATCH /composite/sobjects/{obj}/{ExternalIdField}`` (api_rest
    resources_composite_sobjects_collections_upsert.htm, API 46.0+): ≤ 200 records of the URI's type,
    each carrying the external id field and no ``Id``; 200 with ``{"id","success","errors","created"}``
    per record. An unknown or non-external-id field gives 404 NOT_FOUND as single-record upsert does.
    UNVERIFIED: the per-record codes for a record of another type (INVALID_TYPE), without the key
    (MISSING_ARGUMENT), and for a value repeated in one request (DUPLICATE_EXTERNAL_ID on each)."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    key = obj.field_ci(ctx.params["field"])
    if key is None or not key.external_id or org.access(ctx.user_id, obj.name, key.name) == "none":
        raise err.NotFound(
            f"Provided external ID field does not exist or is not accessible: {ctx.params['field']}"
        )
    if float(ctx.version) < 46.0:
        raise err.NotFound()
    all_or_none, records = _collection_body(ctx)
    for item in records:
        if isinstance(item, dict) and isinstance(item.get("attributes"), dict):
            with contextlib.suppress(err.NotFound):
                org.check_json_types(obj.name, item)

    def key_of(item: Any) -> str | None:
        if not isinstance(item, dict):
            return None
        value = next((v for k, v in item.items() if k.lower() == key.name.lower()), None)
        return None if value in (None, "") else str(value).lower()

    seen: dict[str, int] = {}
    for item in records:
        if (k := key_of(item)) is not None:
            seen[k] = seen.get(k, 0) + 1
    results: list[dict[str, Any] | None] = [None] * len(records)
    prepared: list[tuple[int, dict[str, Any], bool]] = []
    with org.lock:
        for i, item in enumerate(records):
            try:
                if org.object_def(_record_type(item)).name != obj.name:
                    raise err.InvalidType(f"records must all be of type {obj.name}", [])
                values = {k: v for k, v in item.items() if k != "attributes"}
                if any(k.lower() == "id" for k in values):
                    raise err.InvalidFieldForInsertUpdate("cannot specify Id in an upsert call", ["Id"])
                k = key_of(item)
                if k is None:
                    raise err.SalesforceApiError(f"{key.name} not specified", [key.name])
                if seen[k] > 1:
                    raise err.DuplicateExternalId(f"Duplicate external id specified: {k}", [key.name])
                value = next(v for kk, v in values.items() if kk.lower() == key.name.lower())
                rec = org.prepare_upsert(
                    obj.name,
                    key.name,
                    str(value),
                    values,
                    ctx.user_id,
                    allow_duplicates=ctx.allow_duplicates,
                    auto_assign=ctx.auto_assign,
                )
                created = rec.get("Id") is None
                if all_or_none:
                    prepared.append((i, rec, created))
                else:
                    results[i] = _save_ok(org.commit(obj.name, rec, ctx.user_id), created=created)
            except err.SalesforceApiError as exc:
                results[i] = {"success": False, "errors": [_missing_argument(exc)]}
        if all_or_none:
            failed = any(r is not None for r in results)
            for i, rec, created in prepared:
                if failed:
                    results[i] = {"success": False, "errors": [err.AllOrNoneRolledBack().save_error()]}
                else:
                    results[i] = _save_ok(org.commit(obj.name, rec, ctx.user_id), created=created)
    return Reply(200, results)


def collection_retrieve(ctx: Ctx) -> Reply:
    """``GET /composite/sobjects/X?ids=&fields=`` → list, ``null`` for ids that match nothing."""
    org = ctx.the_org()
    obj = org.object_def(ctx.params["obj"])
    ids = [i for i in (ctx.arg("ids") or "").split(",") if i]
    names = [n for n in (ctx.arg("fields") or "").split(",") if n]
    if not ids or not names:
        raise err.RequiredFieldMissing(
            "At least 1 Id is required." if not ids else "The fields parameter is required."
        )
    fields = _readable_fields(ctx, obj, names)
    out: list[Any] = []
    for i in ids:
        try:
            out.append(record_json(ctx.version, obj, org.get(obj.name, i), fields))
        except err.SalesforceApiError:
            out.append(None)
    return Reply(200, out)


def collection_delete(ctx: Ctx) -> Reply:
    """sObject Collections delete, with ``allOrNone``; failed results carry no id.

    ``DELETE /composite/sobjects?ids=&allOrNone=``: example bodies in api_rest
    resources_composite_sobjects_collections_delete.htm (``malformed id X``, ``fields: []``; failed
    results carry no id)."""
    org = ctx.the_org()
    ids = [i for i in (ctx.arg("ids") or "").split(",") if i]
    if not ids:
        raise err.RequiredFieldMissing("At least 1 Id is required.")
    if len(ids) > COLLECTION_MAX:
        raise err.ExceededIdLimit("record limit reached. cannot submit more than 200 records into this call")
    all_or_none = (ctx.arg("allOrNone") or "false").lower() == "true"
    results: list[dict[str, Any] | None] = [None] * len(ids)
    valid: list[tuple[int, str, str]] = []
    with org.lock:
        for n, i in enumerate(ids):
            try:
                name = PREFIX_TO_OBJECT.get(i[:3])
                if name is None or not is_valid_id(i):
                    raise err.MalformedId(f"malformed id {i}", [])
                org.get(name, i)  # NOT_FOUND / ENTITY_IS_DELETED
                valid.append((n, name, to_18(i)))
            except err.SalesforceApiError as exc:
                results[n] = {"success": False, "errors": [exc.save_error()]}
        failed = any(r is not None for r in results)
        for n, name, rid in valid:
            if all_or_none and failed:
                results[n] = {"id": rid, "success": False, "errors": [err.AllOrNoneRolledBack().save_error()]}
                continue
            try:
                org.delete(name, rid, ctx.user_id)
                results[n] = _save_ok(rid)
            except err.SalesforceApiError as exc:
                results[n] = {"success": False, "errors": [exc.save_error()]}
    return Reply(200, results)


# -- Bulk API 2.0 query jobs --------------------------------------------------------------------
def org_jobs(org: Org) -> dict[str, dict[str, Any]]:
    return org.bulk_jobs


def bulk_create(ctx: Ctx) -> Reply:
    """Bulk 2.0 query job create (bulk_api_2_0 query_create_job.htm); the query runs at creation.

    The query runs when the job is created
    and the job reports ``UploadComplete`` once, then ``JobComplete`` (real jobs go through InProgress
    asynchronously; UNVERIFIED timing)."""
    org = ctx.the_org()
    body = ctx.json()
    if (
        not isinstance(body, dict)
        or body.get("operation") not in {"query", "queryAll"}
        or not body.get("query")
    ):
        raise err.SalesforceApiError("Invalid request: operation and query are required", extra={})
    q = soql.parse(body["query"])
    # Not supported in Bulk 2.0 queries: GROUP BY, OFFSET, TYPEOF, aggregates, parent-to-child
    # subqueries (api_asynch queries.htm). Error code and text UNVERIFIED.
    if q.subqueries or q.count or q.offset is not None:
        raise err.SalesforceApiError(
            "Bulk API 2.0 query doesn't support aggregate functions, OFFSET or parent-to-child subqueries",
            extra={},
        )
    compiled = Compiled(org, q, ctx.version, ctx.user_id)
    with org.lock:
        ids = compiled.select_ids(body["operation"] == "queryAll")
        org.cursor_counter += 1
        job_id = make_id(BULK_JOB_PREFIX, org.cursor_counter)
    job = {
        "id": job_id,
        "operation": body["operation"],
        "object": compiled.obj.name,
        "createdById": ctx.user_id,
        "createdDate": format_datetime(org.now_ms()),
        "systemModstamp": format_datetime(org.now_ms()),
        "state": "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(ctx.version),
        "lineEnding": body.get("lineEnding", "LF"),
        "columnDelimiter": body.get("columnDelimiter", "COMMA"),
    }
    org_jobs(org)[job_id] = {"info": job, "compiled": compiled, "ids": ids, "polls": 0}
    return Reply(200, job)


def _job(ctx: Ctx) -> dict[str, Any]:
    job = org_jobs(ctx.the_org()).get(ctx.params["id"])
    if job is None:
        raise err.NotFound("The requested resource does not exist")
    return job


def bulk_get(ctx: Ctx) -> Reply:
    """Bulk 2.0 job info (bulk_api_2_0 query_get_job_info.htm); InProgress for ``bulk_job_polls`` polls."""
    job = _job(ctx)
    info = job["info"]
    job["polls"] += 1
    if info["state"] in {"UploadComplete", "InProgress"}:
        # Real jobs run asynchronously (UploadComplete → InProgress → JobComplete); the switch
        # ``bulk_job_polls`` keeps a job InProgress for that many polls (0: complete at the first).
        busy = job["polls"] <= ctx.the_org().bulk_job_polls
        info["state"] = "InProgress" if busy else "JobComplete"
    if info["state"] == "JobComplete":
        info["numberRecordsProcessed"] = len(job["ids"])
    return Reply(200, {**info, "retries": 0, "totalProcessingTime": 0})


def bulk_abort(ctx: Ctx) -> Reply:
    """Bulk 2.0 abort: ``PATCH {state: Aborted}`` → job info (bulk_api_2_0 abort_job)."""
    job = _job(ctx)
    body = ctx.json()
    if isinstance(body, dict) and body.get("state") == "Aborted":
        job["info"]["state"] = "Aborted"
    return Reply(200, job["info"])


def bulk_delete(ctx: Ctx) -> Reply:
    """204 No Content (bulk_api_2_0 delete_job.htm)."""
    _job(ctx)
    org_jobs(ctx.the_org()).pop(ctx.params["id"], None)
    return Reply(204)


def ingest_create(ctx: Ctx) -> Reply:
    """Bulk 2.0 ingest job create (bulk_api_2_0 create_job.htm): state ``Open`` until closed."""
    org = ctx.the_org()
    body = ctx.json()
    if not isinstance(body, dict) or body.get("operation") not in ingest.OPERATIONS:
        raise err.SalesforceApiError(
            "Invalid request: operation must be insert, update, upsert or delete", extra={}
        )
    obj = org.object_def(str(body.get("object") or ""))
    key = body.get("externalIdFieldName")
    if body["operation"] == "upsert":
        f = obj.field_ci(str(key or ""))
        if f is None or not (f.external_id or f.name == "Id"):
            raise err.SalesforceApiError(f"Invalid external ID field: {key}", extra={})  # text UNVERIFIED
        key = f.name
    with org.lock:
        org.cursor_counter += 1
        job_id = make_id(BULK_JOB_PREFIX, org.cursor_counter)
    info = {
        "id": job_id,
        "operation": body["operation"],
        "object": obj.name,
        "createdById": ctx.user_id,
        "createdDate": format_datetime(org.now_ms()),
        "systemModstamp": format_datetime(org.now_ms()),
        "state": "Open",
        "externalIdFieldName": key,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(ctx.version),
        "contentUrl": f"services/data/v{ctx.version}/jobs/ingest/{job_id}/batches",
        "lineEnding": body.get("lineEnding", "LF"),
        "columnDelimiter": body.get("columnDelimiter", "COMMA"),
    }
    org_jobs(org)[job_id] = {"info": info, "data": "", "polls": 0, "ingest": True, "unprocessed": []}
    return Reply(200, info)


def _ingest_job(ctx: Ctx) -> dict[str, Any]:
    job = _job(ctx)
    if not job.get("ingest"):
        raise err.NotFound("The requested resource does not exist")
    return job


def ingest_upload(ctx: Ctx) -> Reply:
    """``PUT /jobs/ingest/{id}/batches`` CSV → 201 while the job is Open (upload_job_data.htm)."""
    job = _ingest_job(ctx)
    if job["info"]["state"] != "Open":
        raise err.SalesforceApiError("Job is not in Open state", extra={})  # text UNVERIFIED
    if len(job["data"]) + len(ctx.body) > ingest.MAX_UPLOAD_BYTES:
        raise err.SalesforceApiError("Job data exceeds the 100 MB limit", extra={})
    text = ctx.body.decode("utf-8", errors="replace")
    if job["data"]:  # a later upload repeats the header row; keep one
        text = text.split("\n", 1)[1] if "\n" in text else ""
    job["data"] += text if text.endswith("\n") or not text else text + "\n"
    return Reply(201)


def ingest_state(ctx: Ctx) -> Reply:
    """``PATCH /jobs/ingest/{id}`` ``{"state": "UploadComplete" | "Aborted"}`` (close_job.htm)."""
    job = _ingest_job(ctx)
    body = ctx.json()
    state = body.get("state") if isinstance(body, dict) else None
    info = job["info"]
    if state == "UploadComplete" and info["state"] == "Open":
        info["state"] = "UploadComplete"
        ingest.process(ctx.the_org(), job, ctx.user_id)
    elif state == "Aborted" and info["state"] in {"Open", "UploadComplete", "InProgress"}:
        info["state"] = "Aborted"
        job["unprocessed"] = None  # every uploaded row
    else:
        raise err.SalesforceApiError(f"Cannot change state from {info['state']} to {state}", extra={})
    return Reply(200, info)


def ingest_get(ctx: Ctx) -> Reply:
    """Bulk 2.0 ingest job info (get_job_info.htm); InProgress for ``bulk_job_polls`` polls."""
    job = _ingest_job(ctx)
    info = job["info"]
    job["polls"] += 1
    if info["state"] in {"UploadComplete", "InProgress"}:
        info["state"] = "InProgress" if job["polls"] <= ctx.the_org().bulk_job_polls else "JobComplete"
    return Reply(200, {**info, "retries": 0, "totalProcessingTime": 0})


def ingest_results(ctx: Ctx) -> Reply:
    """``GET /jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords`` as CSV (get_job_*);
    results of a job still running → 400 (UNVERIFIED code/text)."""
    job = _ingest_job(ctx)
    kind = ctx.path.rstrip("/").rsplit("/", 1)[1]
    kind = "unprocessedrecords" if kind.lower() == "unprocessedrecords" else kind
    if job["info"]["state"] not in {"JobComplete", "Aborted", "Failed"}:
        raise err.SalesforceApiError("Job is not complete", extra={})
    if kind != "unprocessedrecords" and job["info"]["state"] == "Aborted":
        job.setdefault("success", [])
        job.setdefault("failed", [])
    return Reply(200, ingest.results_csv(job, kind), content_type="text/csv")


def _csv_value(f: Any, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if getattr(f, "type", "") == "datetime":
        return str(format_datetime(value)).replace("+0000", "Z")  # UNVERIFIED: Bulk CSV datetime rendering
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bulk_results(ctx: Ctx) -> Reply:
    """Bulk 2.0 results as CSV pages with ``Sforce-NumberOfRecords``/``Sforce-Locator``; 412 before done.

    ``GET /jobs/query/{id}/results?maxRecords&locator``: CSV with ``Sforce-NumberOfRecords`` and
    ``Sforce-Locator`` (``null`` on the last page); 412 JOB_NOT_COMPLETE before completion
    (bulk_api_2_0 query_get_job_results.htm). Locators are decimal offsets here (real ones are opaque)."""
    job = _job(ctx)
    if job["info"]["state"] != "JobComplete":
        raise err.JobNotComplete("Job is not complete")
    compiled: Compiled = job["compiled"]
    start = int(ctx.arg("locator") or 0)
    size = int(ctx.arg("maxRecords") or 50000)
    ids = job["ids"][start : start + size]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n" if job["info"]["lineEnding"] == "LF" else "\r\n")
    writer.writerow([p.text for p in compiled.paths])
    records = ctx.the_org().stores[compiled.obj.name].records
    for rid in ids:
        rec = records[rid]
        writer.writerow([_csv_value(p.leaf, p.get(rec)) for p in compiled.paths])
    nxt = start + len(ids)
    locator = str(nxt) if nxt < len(job["ids"]) else "null"
    return Reply(
        200,
        buf.getvalue(),
        content_type="text/csv",
        headers={"Sforce-NumberOfRecords": str(len(ids)), "Sforce-Locator": locator},
    )


# -- SOAP: login and convertLead ----------------------------------------------------------------
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_text(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return (el.text or "").strip()
    return None


def soap_fault(code: str, message: str, fault_type: str = "LoginFault") -> Reply:
    """SOAP fault, HTTP 500 (simple-salesforce tests/test_login.py ``test_failure``)."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}"
        f'</faultstring><detail><sf:{fault_type} xsi:type="sf:{fault_type}">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:{fault_type}></detail></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    return Reply(500, body, content_type="text/xml;charset=UTF-8")


def _soap_ok(inner: str, org: Org | None = None) -> Reply:
    """A SOAP answer; with ``org`` it carries the ``LimitInfoHeader`` (api sforce_api_header_limitinfo.htm:
    returned by "All calls, except for login()", ``limitInfo`` with current/limit/type API REQUESTS)."""
    header = ""
    if org is not None:
        header = (
            "<soapenv:Header><LimitInfoHeader><limitInfo>"
            f"<current>{org.api_used}</current><limit>{org.api_max}</limit><type>API REQUESTS</type>"
            "</limitInfo></LimitInfoHeader></soapenv:Header>"
        )
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
        'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"{header}<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )
    return Reply(200, body, content_type="text/xml;charset=UTF-8")


def soap(ctx: Ctx) -> Reply:
    """``POST /services/Soap/u/{v}``: ``login`` and ``convertLead`` of the partner API.

    login: unprefixed ``sessionId``/``serverUrl`` in the default namespace, as simple-salesforce reads them
    with ``getElementsByTagName`` (reference §1a). Faults use the LoginFault shape with HTTP 500.
    convertLead (api sforce_api_calls_convertlead.htm): ``SessionHeader/sessionId``, ``leadConverts``
    with leadId, convertedStatus, accountId, contactId, opportunityName, doNotCreateOpportunity.
    """
    try:
        root = ET.fromstring(ctx.body)
    except ET.ParseError:
        return soap_fault("INVALID_REQUEST", "Could not parse the SOAP request", "UnexpectedErrorFault")
    body = next((el for el in root.iter() if _local(el.tag) == "Body"), None)
    op = _local(body[0].tag) if body is not None and len(body) else ""
    org = ctx.backend.default_org
    if op == "login":
        if float(ctx.version) > api_versions.SOAP_LOGIN_LAST:
            return soap_fault(
                "INVALID_OPERATION",
                f"The SOAP Login operation is not available in the API version specified ({ctx.version}). "
                "Refer to the documentation for supported versions.",
                "UnexpectedErrorFault",  # fault element type UNVERIFIED (wsc#363 shows only the ApiFault)
            )
        if not org.soap_login_enabled:  # message as quoted in OpenFn/adaptors#1715
            return soap_fault(
                "INVALID_OPERATION",
                "SOAP API login() is disabled by default in this org. Contact the org administrator "
                "to enable SOAP API login().",
                "UnexpectedErrorFault",
            )
        username = _find_text(root, "username") or ""
        password = _find_text(root, "password") or ""
        user_id = org.check_password(username, password, token_optional=False)
        if user_id is None:
            return soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        session = org.new_session(user_id)
        v = ctx.version
        server = f"{ctx.base_url}/services/Soap/u/{v}/{org.org_id[:15]}"
        return _soap_ok(
            "<loginResponse><result>"
            f"<metadataServerUrl>{ctx.base_url}/services/Soap/m/{v}/{org.org_id[:15]}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{server}</serverUrl><sessionId>{session.token}</sessionId><userId>{user_id}</userId>"
            f"<userInfo><organizationId>{org.org_id}</organizationId><userName>{escape(username)}</userName>"
            f"<sessionSecondsValid>{int(org.session_seconds)}</sessionSecondsValid>"
            "<userTimeZone>Etc/UTC</userTimeZone></userInfo>"
            "</result></loginResponse>"
        )
    if op == "convertLead":
        token = _find_text(root, "sessionId") or ""
        try:
            org, session = ctx.backend.org_for_token(token)
        except err.InvalidSessionId:
            return soap_fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: Illegal Session",
                "UnexpectedErrorFault",
            )
        try:
            org.count_api_call(
                ctx.method, ctx.path
            )  # every call but login counts against the daily allocation
        except err.RequestLimitExceeded as exc:
            # faultcode sf:REQUEST_LIMIT_EXCEEDED (api sforce_api_calls_concepts_core_data_objects
            # ExceptionCode list); fault element type UNVERIFIED.
            return soap_fault(exc.error_code, exc.message, "UnexpectedErrorFault")
        results = []
        for conv in (el for el in root.iter() if _local(el.tag) == "leadConverts"):
            values = {_local(c.tag): (c.text or "").strip() for c in conv}
            try:
                out = org.convert_lead(
                    values.get("leadId", ""),
                    values.get("convertedStatus", ""),
                    session.user_id,
                    account_id=values.get("accountId") or None,
                    contact_id=values.get("contactId") or None,
                    opportunity_name=values.get("opportunityName") or None,
                    do_not_create_opportunity=values.get("doNotCreateOpportunity", "false").lower() == "true",
                )
                results.append(
                    "<result>"
                    + "".join(
                        f"<{k}>{v}</{k}>" if v is not None else f'<{k} xsi:nil="true"/>'
                        for k, v in (
                            ("accountId", out["accountId"]),
                            ("contactId", out["contactId"]),
                            ("leadId", out["leadId"]),
                            ("opportunityId", out["opportunityId"]),
                        )
                    )
                    + "<success>true</success></result>"
                )
            except err.SalesforceApiError as exc:
                results.append(
                    f"<result><errors><message>{escape(exc.message)}</message><statusCode>{exc.error_code}</statusCode>"
                    f"</errors><leadId>{escape(values.get('leadId', ''))}</leadId>"
                    "<success>false</success></result>"
                )
        return _soap_ok(f"<convertLeadResponse>{''.join(results)}</convertLeadResponse>", org)
    return soap_fault("INVALID_OPERATION", f"unsupported operation: {op}", "UnexpectedErrorFault")


# -- OAuth 2.0 token endpoint -------------------------------------------------------------------
def _oauth_error(error: str, description: str, status: int = 400) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def _audience_ok(aud: Any, base_url: str) -> bool:
    """JWT bearer ``aud`` must be the authorization server: https://login.salesforce.com,
    https://test.salesforce.com or the org's My Domain / site URL (help.salesforce.com
    remoteaccess_oauth_jwt_flow.htm); the sandbox also accepts its own base URL. Otherwise 400
    invalid_grant "audience is invalid"."""
    values = aud if isinstance(aud, list) else [aud]
    for value in values:
        text = str(value or "").rstrip("/")
        if text in {"https://login.salesforce.com", "https://test.salesforce.com", base_url.rstrip("/")}:
            return True
        if re.fullmatch(r"https://[A-Za-z0-9-]+(?:--[A-Za-z0-9]+)?\.my\.salesforce\.com", text):
            return True
    return False


def oauth_token(ctx: Ctx) -> Reply:
    """OAuth 2.0 token endpoint: password, client credentials and JWT bearer grants (reference §1b).

    ``POST /services/oauth2/token``: password, client_credentials and JWT bearer grants
    (help.salesforce.com remoteaccess_oauth_*_flow; reference §1b). Client credentials and JWT issue no
    refresh token (UNVERIFIED, widely known)."""
    org = ctx.backend.default_org
    # A body that is not UTF-8 form data matches no client or user (UNVERIFIED: what a real org says)
    form = {k: v[0] for k, v in parse_qs(ctx.body.decode(errors="replace"), keep_blank_values=True).items()}
    grant = form.get("grant_type", "")
    user_id: str | None = None
    if grant == "password":
        app = org.connected_apps.get(form.get("client_id", ""))
        if app is None:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if form.get("client_secret") != app["secret"]:
            return _oauth_error("invalid_client", "invalid client credentials")
        user_id = org.check_password(form.get("username", ""), form.get("password", ""), token_optional=True)
        if user_id is None:
            return _oauth_error("invalid_grant", "authentication failure")
    elif grant == "client_credentials":
        header = ctx.headers.get("authorization", "")
        key, secret = "", ""
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
                return _oauth_error("invalid_client_id", "client identifier invalid")
            key, _, secret = decoded.partition(":")
        else:
            key, secret = form.get("client_id", ""), form.get("client_secret", "")
        app = org.connected_apps.get(key)
        if app is None:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if secret != app["secret"]:
            return _oauth_error("invalid_client", "invalid client credentials")
        user_id = app["run_as"]
    elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        import jwt

        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            app = org.connected_apps.get(str(claims.get("iss", "")))
            if app is None or not app.get("jwt_public_key"):
                return _oauth_error("invalid_client_id", "client identifier invalid")
            claims = jwt.decode(
                assertion,
                app["jwt_public_key"],
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp"]},
            )
            if not _audience_ok(claims.get("aud"), ctx.base_url):
                return _oauth_error("invalid_grant", "audience is invalid")
        except jwt.ExpiredSignatureError:
            return _oauth_error("invalid_grant", "expired authorization code")
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        user_id = org.user_by_username(str(claims.get("sub", "")))
        if user_id is None:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
    else:
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    session = org.new_session(user_id)
    issued = str(int(time.time() * 1000))
    body = {
        "access_token": session.token,
        "instance_url": ctx.base_url,
        "id": f"{ctx.base_url}/id/{org.org_id}/{user_id}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": base64.b64encode(f"{session.token[:8]}{issued}".encode()).decode(),
    }
    if grant != "password":
        body["scope"] = "api"
    return Reply(200, body)


# -- control surface (never used by real clients) -----------------------------------------------
def control_reset(ctx: Ctx) -> Reply:
    """Control surface: a fresh org (never used by real clients)."""
    ctx.backend.reset()
    return Reply(200, {"ok": True})


def control_seed(ctx: Ctx) -> Reply:
    """Control surface: deterministic seed data ``{count, seed}``."""
    count, seed = control.seed_args(ctx.json())
    return Reply(200, seed_org(ctx.backend.default_org, count, seed))


def control_faults(ctx: Ctx) -> Reply:
    """Control surface: list, add (``FaultRule`` fields, validated) or clear injected faults."""
    org = ctx.backend.default_org
    if ctx.method == "DELETE":
        org.faults.clear()
        return Reply(200, {"ok": True})
    if ctx.method == "GET":
        return Reply(200, [rule.as_json() for rule in org.faults])
    body = control.object_body(ctx.json(), "fault")
    try:
        rule = FaultRule(**body)
    except TypeError:
        known = ", ".join(FaultRule.__dataclass_fields__)
        raise control.bad(f"fault: unknown or missing keys (known: {known}; kind is required)") from None
    except ValueError as exc:
        raise control.bad(f"fault: {exc}") from None
    org.faults.append(rule)
    return Reply(201, rule.as_json())


def control_requests(ctx: Ctx) -> Reply:
    """Control surface: the request log (every counted API request, oldest first); DELETE clears it.

    Ours, not Salesforce's: tests and benches count the worker's calls by kind with it."""
    org = ctx.backend.default_org
    with org.lock:
        if ctx.method == "DELETE":
            org.requests.clear()
            return Reply(200, {"ok": True})
        return Reply(200, [r.as_json() for r in org.requests])


def control_settings(ctx: Ctx) -> Reply:
    """Control surface: read or change the org switches and limits (keys and types in ``control.py``).

    Keys: api_max, api_used, session_seconds, validation_rule_active, duplicate_rule,
    converted_leads_editable, clock_offset_ms, outbound_url, assignment_rule_owner (a User id: the
    active lead assignment rule's owner, run unless ``Sforce-Auto-Assign: FALSE``), bulk_job_polls,
    locators_bound_to_session, latest_api_version, soap_login_enabled."""
    org = ctx.backend.default_org
    if ctx.method == "POST":
        for key, value in control.settings_changes(ctx.json()).items():
            setattr(org, key, float(value) if key == "latest_api_version" else value)
        if org.outbound_url and org.outbound is None:
            from sandbox.salesforce.outbound import OutboundSender

            org.outbound = OutboundSender(org, ctx.base_url)
    return Reply(
        200,
        {k: getattr(org, k) for k in control.SETTINGS}
        | {"login_count": org.login_count, "org_id": org.org_id},
    )


def control_field_security(ctx: Ctx) -> Reply:
    """Control surface: a user's field-level security, ``{user?, object, field, access}`` (none|read|edit)."""
    org = ctx.backend.default_org
    if ctx.method == "POST":
        user, obj, name, access = control.field_security_args(ctx.json())
        user_id = org.admin_id if user is None else (org.user_by_username(user) or user)
        if org.stores["User"].records.get(user_id) is None:
            raise control.bad(f"field_security: no user {user!r}")
        try:
            org.set_access(user_id, obj, name, access)
        except (ValueError, err.SalesforceApiError) as exc:
            raise control.bad(f"field_security: {exc}") from None
    listing = [
        {"user": user_id, "object": obj, "field": name, "access": access}
        for user_id, fields in org.field_access.items()
        for (obj, name), access in sorted(fields.items())
    ]
    return Reply(200, listing)


def control_record_types(ctx: Ctx) -> Reply:
    """Control surface: add a record type ``{object, developer_name, label?, values: {field: [..]},
    default?}``; GET lists them with their allowed values."""
    org = ctx.backend.default_org
    if ctx.method == "POST":
        body = control.object_body(ctx.json(), "record_types")
        obj, developer = body.get("object"), body.get("developer_name")
        values, label, default = body.get("values", {}), body.get("label"), body.get("default", False)
        if not isinstance(obj, str) or not isinstance(developer, str) or not isinstance(values, dict):
            raise control.bad("record_types: object and developer_name must be names, values an object")
        if (label is not None and not isinstance(label, str)) or not isinstance(default, bool):
            raise control.bad("record_types: label must be a string and default true or false")
        try:
            rt_id = org.add_record_type(obj, developer, values, label=label, default=default)
        except (ValueError, err.SalesforceApiError) as exc:
            raise control.bad(f"record_types: {exc}") from None
        return Reply(201, {"id": rt_id})
    return Reply(
        200,
        [
            {
                "id": rt_id,
                "object": org.stores["RecordType"].records[rt_id]["SobjectType"],
                "values": {k: sorted(v) for k, v in values.items()},
                "default": rt_id in org.default_record_type.values(),
            }
            for rt_id, values in org.record_type_values.items()
        ],
    )


def control_automations(ctx: Ctx) -> Reply:
    """Control surface: flows and triggers that run on save (``automation.Automation`` fields:
    name, object, kind update|validation|trigger_error|flow_error, field, value?, on?, set?, message?);
    DELETE removes them all."""
    org = ctx.backend.default_org
    if ctx.method == "DELETE":
        org.automations.clear()
        return Reply(200, {"ok": True})
    if ctx.method == "POST":
        body = control.object_body(ctx.json(), "automation")
        try:
            auto = org.add_automation(**body)
        except TypeError:
            raise control.bad(
                "automation: unknown or missing keys (name, object, kind, field required)"
            ) from None
        except (ValueError, err.SalesforceApiError) as exc:
            raise control.bad(f"automation: {exc}") from None
        return Reply(201, auto.as_json())
    return Reply(200, [a.as_json() for a in org.automations])


def control_expire_sessions(ctx: Ctx) -> Reply:
    """Control surface: expire every session (next call gets 401 INVALID_SESSION_ID)."""
    return Reply(200, {"expired": ctx.backend.default_org.expire_sessions()})


def control_late_commit(ctx: Ctx) -> Reply:
    """Control surface: commit a change with a SystemModstamp older than rows already read."""
    obj, record_id, values, seconds_ago = control.late_commit_args(ctx.json())
    ctx.backend.default_org.late_commit(obj, record_id, values, seconds_ago)
    return Reply(200, {"ok": True})


def control_merge(ctx: Ctx) -> Reply:
    """Control surface: merge records as the UI does (the losers deleted with ``MasterRecordId``)."""
    obj, master, losers = control.merge_args(ctx.json())
    org = ctx.backend.default_org
    return Reply(200, org.merge(obj, master, losers, org.admin_id))


def _record_type(item: Any) -> str:
    """The ``attributes.type`` of one collection record; Salesforce's INVALID_TYPE when it has none."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("attributes"), dict)
        or not item["attributes"].get("type")
    ):
        raise err.InvalidType("Must specify a type in the attributes", [])
    return str(item["attributes"]["type"])
