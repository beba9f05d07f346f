"""Org state and the org's rules. Raises the real errors; knows nothing about HTTP.

Sources for each behaviour are cited where it is enforced; items not checked against a vendor source
say UNVERIFIED. System fields (``CreatedDate``, ``LastModifiedDate``, ``SystemModstamp``) are kept by
the server with second precision (real values render ``.000`` milliseconds; whether the stored value
has finer precision is UNVERIFIED), which makes equal-``SystemModstamp`` ties common, as in bulk
updates on a real org (supaglue-labs/supaglue#532).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce import errors as err
from sandbox.salesforce import soql, versions
from sandbox.salesforce.automation import NOW, TODAY, Automation
from sandbox.salesforce.ids import (
    KEY_PREFIXES,
    LOCATOR_PREFIX,
    MASTER_RECORD_TYPE_ID,
    ORG_PREFIX,
    PREFIX_TO_OBJECT,
    is_valid_id,
    make_id,
    to_18,
)
from sandbox.salesforce.schema import (
    CLOSED_TASK_STATUSES,
    INDEXED_FIELDS,
    MERGEABLE_OBJECTS,
    OPPORTUNITY_STAGES,
    READ_ONLY_OBJECTS,
    SCHEMA,
    FieldDef,
    ObjectDef,
)

Record = dict[str, Any]  # stored sparse: a field that is null is absent (read with .get)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Standard Lead fields conversion always carries to the Contact (the standard mapping).
STANDARD_CONVERTED_FIELDS = ("FirstName", "LastName", "Email", "Phone", "Title", "LeadSource")
UNQUALIFIED_MESSAGE = "Unqualified Reason is required when Lead Status is Unqualified."

# Declared once: query batching (api_rest headers_queryoptions.htm: default 2000, min 200, max 2000).
QUERY_BATCH_DEFAULT = 2000
QUERY_BATCH_MIN = 200
QUERY_BATCH_MAX = 2000
COLLECTION_MAX = 200  # sObject Collections: up to 200 records (resources_composite_sobjects_collections_*)
CURSOR_IDLE_SECONDS = 15 * 60  # query locators expire after 15 minutes of inactivity (api_rest query docs)
# At most 10 open query cursors per user; opening another deletes the oldest, whose locator then gives
# INVALID_QUERY_LOCATOR (help.salesforce.com 000004410, cited in simple-salesforce#95).
CURSORS_PER_USER = 10
GET_UPDATED_MAX_IDS = 600_000  # resources-getupdated: more gives EXCEEDED_ID_LIMIT
GET_UPDATED_MAX_DAYS = 30
# getDeleted: "Results are returned for no more than 15 days previous to the day the call is executed
# (or earlier if an administrator has purged the Recycle Bin)" (api_rest resources_getdeleted.htm).
DELETED_RETENTION_DAYS = 15
# "The specified startDate must chronologically precede the specified endDate value by more than one
# minute" (SOAP getDeleted rules, 264.0 copy); applied to getUpdated too (inferred, UNVERIFIED).
REPLICATION_MIN_WINDOW_MS = 60_000
REQUEST_LOG_SIZE = 100_000  # the request log keeps this many of the latest counted requests


def format_datetime(ms: int | None) -> str | None:
    """``2011-07-07T00:37:00.000+0000``: the REST API's datetime rendering (reference §2a)."""
    if ms is None:
        return None
    value = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


@dataclass(frozen=True)
class ApiRequest:
    """One counted API request in the request log: method, path and, for a query, its SOQL."""

    method: str
    path: str
    soql: str = ""

    def as_json(self) -> dict[str, str]:
        return {"method": self.method, "path": self.path, "soql": self.soql}


@dataclass
class Session:
    token: str
    user_id: str
    expires_at: float


@dataclass
class QueryCursor:
    locator: str
    object: str
    query: soql.Query
    ids: list[str]
    position: int
    batch_size: int
    include_deleted: bool
    touched: float
    compiled: Any = None  # engine.Compiled (kept opaque here to avoid an import cycle)
    session_token: str = ""
    user_id: str = ""


RULE_KINDS = frozenset({"error", "slow", "drop", "drop_after", "expire_session", "lock_records"})
FAULT_MAX_DELAY = 120.0


@dataclass
class FaultRule:
    """A switchable fault. ``kind``: error | slow | drop | drop_after | expire_session | lock_records.

    Validated when made (``ValueError``): a rule that could not run (unknown kind or error code, a path
    that is not a regular expression, a count or delay of the wrong type) is refused up front rather
    than breaking every later request that reaches it."""

    kind: str
    path: str = ""
    method: str = ""
    times: int = 1
    error_code: str = ""
    delay: float = 0.0
    record_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in RULE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(sorted(RULE_KINDS))}")
        if not isinstance(self.path, str) or not isinstance(self.method, str):
            raise ValueError("path and method must be strings")
        try:
            self._regex = re.compile(self.path) if self.path else None
        except re.error as exc:
            raise ValueError(f"path is not a regular expression: {exc}") from None
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise ValueError("times must be a whole number of at least 1")
        if (
            isinstance(self.delay, bool)
            or not isinstance(self.delay, int | float)
            or not 0 <= self.delay <= FAULT_MAX_DELAY
        ):
            raise ValueError(f"delay must be a number of seconds from 0 to {FAULT_MAX_DELAY:g}")
        if self.kind == "error" and self.error_code not in FAULT_ERRORS:
            raise ValueError(f"error_code must be one of {', '.join(sorted(FAULT_ERRORS))}")
        if not isinstance(self.record_ids, list) or not all(isinstance(i, str) for i in self.record_ids):
            raise ValueError("record_ids must be a list of record ids")

    def matches(self, method: str, path: str) -> bool:
        return (not self.method or self.method.upper() == method.upper()) and (
            self._regex is None or self._regex.search(path) is not None
        )

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


FAULT_ERRORS: dict[str, Callable[[], err.SalesforceApiError]] = {
    "REQUEST_LIMIT_EXCEEDED": err.RequestLimitExceeded,
    # Concurrent long-running request limit; message UNVERIFIED (salesforce-app-limits-platform-api).
    "CONCURRENT_REQUEST_LIMIT_EXCEEDED": lambda: err.RequestLimitExceeded(
        "ConcurrentPerOrgLongTxn Limit exceeded."
    ),
    "UNABLE_TO_LOCK_ROW": err.UnableToLockRow,
    "UNKNOWN_EXCEPTION": lambda: err.ServerError("An unexpected error occurred. Please include this ErrorId"),
    "SERVER_UNAVAILABLE": lambda: err.ServiceUnavailable("Service Unavailable"),
    "INVALID_SESSION_ID": err.InvalidSessionId,
}


class ModstampIndex:
    """Sorted ``(SystemModstamp, Id)`` keys; stale keys are skipped on read and compacted lazily.

    Appends happen at the tail (the clock moves forward), so ``insort`` is cheap; a late commit
    inserts into the middle, which is what the sandbox's late-commit fault does on purpose.
    """

    def __init__(self) -> None:
        self.keys: list[tuple[int, str]] = []

    def add(self, ms: int, record_id: str) -> None:
        bisect.insort(self.keys, (ms, record_id))

    def scan(self, records: dict[str, Record], lower: tuple[int, bool] | None) -> Iterator[str]:
        start = 0
        if lower is not None:
            ms, inclusive = lower
            start = (
                bisect.bisect_left(self.keys, (ms, ""))
                if inclusive
                else bisect.bisect_left(self.keys, (ms + 1, ""))
            )
        seen: set[str] = set()
        for ms, record_id in self.keys[start:]:
            rec = records.get(record_id)
            if rec is None or rec["SystemModstamp"] != ms or record_id in seen:
                continue
            seen.add(record_id)
            yield record_id

    def maybe_compact(self, records: dict[str, Record]) -> None:
        if len(self.keys) > 2 * len(records) + 1000:
            self.keys = sorted((rec["SystemModstamp"], rid) for rid, rec in records.items())


class Store:
    """All records of one object type, with the modstamp index and value indexes."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.records: dict[str, Record] = {}
        # Every id (deleted records included: they stay in ``records`` for queryAll) in Id order, for
        # ``Id > X ORDER BY Id`` reads; ids from ``make_id`` sort in creation order, so this is an append.
        self.ids: list[str] = []
        self.counter = 0
        self.modstamp = ModstampIndex()
        self.indexed = INDEXED_FIELDS.get(obj.name, ())
        # value -> one id, or a set of ids when several records share the value (most values are
        # unique, and a set per value costs ~200 bytes: that matters at 1,000,000 leads).
        self.by_value: dict[str, dict[Any, str | set[str]]] = {f: {} for f in self.indexed}
        self.deleted_log: list[tuple[int, str]] = []  # (deletedDate ms, id)
        self.earliest_deleted_available: int | None = None  # set once entries are purged

    @staticmethod
    def _key(value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def index(self, rec: Record, old: Record | None) -> None:
        for name in self.indexed:
            new_v = self._key(rec.get(name))
            old_v = self._key(old.get(name)) if old is not None else None
            if old is not None and new_v == old_v:
                continue
            index = self.by_value[name]
            if old is not None and old_v is not None:
                held = index.get(old_v)
                if held == rec["Id"]:
                    del index[old_v]
                elif isinstance(held, set):
                    held.discard(rec["Id"])
                    if len(held) == 1:
                        index[old_v] = next(iter(held))
            if new_v is not None:
                held = index.get(new_v)
                if held is None:
                    index[new_v] = rec["Id"]
                elif isinstance(held, set):
                    held.add(rec["Id"])
                elif held != rec["Id"]:
                    index[new_v] = {held, rec["Id"]}
        if old is None:
            rid = rec["Id"]
            if not self.ids or rid > self.ids[-1]:
                self.ids.append(rid)
            elif (at := bisect.bisect_left(self.ids, rid)) == len(self.ids) or self.ids[at] != rid:
                self.ids.insert(at, rid)
        if old is None or old["SystemModstamp"] != rec["SystemModstamp"]:
            self.modstamp.add(rec["SystemModstamp"], rec["Id"])
            self.modstamp.maybe_compact(self.records)

    def lookup(self, name: str, value: Any) -> set[str]:
        held = self.by_value[name].get(self._key(value))
        if held is None:
            return set()
        return set(held) if isinstance(held, set) else {held}


class Org:
    """One tenant: schema, records, users and credentials, sessions, limits, faults and switches."""

    def __init__(self, org_number: int = 1) -> None:
        self.lock = threading.RLock()
        self.org_id = make_id(ORG_PREFIX, org_number)
        self.stores: dict[str, Store] = {name: Store(obj) for name, obj in SCHEMA.items()}
        self.sessions: dict[str, Session] = {}
        self.cursors: dict[str, QueryCursor] = {}
        self.bulk_jobs: dict[str, dict[str, Any]] = {}  # Bulk 2.0 query jobs by id
        self.cursor_counter = 0
        self.faults: list[FaultRule] = []
        self.clock_offset_ms = 0
        self.created_ms = int(time.time()) * 1000
        # Limits: DailyApiRequests (reference §7; Enterprise base allocation 100,000).
        self.api_max = 100_000
        self.api_used = 0
        # Every counted API request, oldest first (the control surface's request log: tests and benches
        # count the worker's calls by kind from it; ours, not Salesforce's).
        self.requests: deque[ApiRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self.session_seconds = 7200.0  # userInfo.sessionSecondsValid default
        # Org switches (each one an org setting on a real org).
        self.validation_rule_active = True
        # off | block | allow_with_header. Real orgs ship the standard rules active (allow_with_header:
        # "Allow" + alert, which blocks API saves without allowSave); off here so seeding and the other
        # suites can make duplicates on purpose (set it to model a real org).
        self.duplicate_rule = "off"
        self.converted_leads_editable = False  # "View and Edit Converted Leads" permission
        # Lead custom fields the org mapped onto the Contact for conversion (Setup > Lead > Map Lead
        # Fields); unmapped custom fields do not reach the Contact.
        self.lead_field_mapping: dict[str, str] = {
            "Lead_Stage__c": "Lead_Stage__c",
            "HubSpot_Contact_ID__c": "HubSpot_Contact_ID__c",
        }
        self.assignment_rule_owner: str | None = None  # active lead assignment rule: assigns to this user
        self.locators_bound_to_session = True
        self.bulk_job_polls = 0  # Bulk 2.0 jobs report InProgress for this many polls
        # A query matching more rows than this times out (QUERY_TIMEOUT), as a non-selective query over
        # a large object does on a real org (the real threshold is time, not rows: inferred model).
        self.query_timeout_rows: int | None = None
        self.latest_api_version = versions.LATEST  # the org's release: newer versions answer 404
        # SOAP login() is disabled by default in orgs created from Summer '26 (help article 005132110);
        # on here, as in the older orgs most customers have.
        self.soap_login_enabled = True
        # Record types: per type, the values each restricted picklist allows; the default per object.
        self.automations: list[Automation] = []  # flows and triggers that run on save
        self.record_type_values: dict[str, dict[str, frozenset[str]]] = {}
        self.default_record_type: dict[str, str] = {}
        # Field-level security per user: (object, field) -> "none" (hidden) or "read"; "edit" otherwise.
        self.field_access: dict[str, dict[tuple[str, str], str]] = {}
        self.login_count = 0
        self.connected_apps: dict[str, dict[str, Any]] = {}
        self.passwords: dict[str, tuple[str, str]] = {}  # username -> (password, security token)
        self.outbound_url: str | None = None
        self.outbound: Any = None
        admin = self.create_raw(
            "User",
            {
                "Username": "admin@crm-sync.sandbox",
                "FirstName": "Sandbox",
                "LastName": "Admin",
                "Email": "admin@crm-sync.sandbox",
                "IsActive": True,
            },
            owner=None,
        )
        self.admin_id = admin
        organization = self.create_raw(
            "Organization",
            {
                "Name": "CRM Sync Sandbox",
                "InstanceName": "CS42",
                "IsSandbox": True,
                "OrganizationType": "Enterprise Edition",
                "LanguageLocaleKey": "en_US",
                "TimeZoneSidKey": "Etc/UTC",
            },
            None,
        )
        assert organization == self.org_id, "the Organization row carries the org id"
        # A lead queue, as most orgs route web leads to one (OwnerId 00G…).
        self.lead_queue_id = self.create_raw(
            "Group", {"Name": "Inbound Leads", "DeveloperName": "Inbound_Leads", "Type": "Queue"}, None
        )
        self.passwords["admin@crm-sync.sandbox"] = ("password", "TOKEN")
        self.connected_apps["sandbox-consumer-key"] = {
            "secret": "sandbox-consumer-secret",
            "run_as": admin,
            "jwt_public_key": None,
        }
        self.listeners: list[Callable[[str, str, Record], None]] = []

    # -- clock ---------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return (int(time.time()) * 1000) + self.clock_offset_ms // 1000 * 1000

    # -- sessions and logins -------------------------------------------------------------------
    def new_session(self, user_id: str) -> Session:
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        session = Session(token, user_id, time.monotonic() + self.session_seconds)
        with self.lock:
            self.sessions[token] = session
            self.login_count += 1
        return session

    def session_for(self, token: str) -> Session:
        session = self.sessions.get(token)
        if session is None or session.expires_at <= time.monotonic():
            raise err.InvalidSessionId()
        return session

    def expire_sessions(self) -> int:
        with self.lock:
            count = len(self.sessions)
            self.sessions.clear()
        return count

    def user_by_username(self, username: str) -> str | None:
        ids = self.stores["User"].lookup("Username", username)
        return next(iter(ids), None)

    def check_password(self, username: str, password: str, *, token_optional: bool) -> str | None:
        creds = self.passwords.get(username)
        if creds is None:
            return None
        pw, token = creds
        if secrets.compare_digest(password, pw + token) or (
            token_optional and secrets.compare_digest(password, pw)
        ):
            return self.user_by_username(username)
        return None

    # -- limits and faults ---------------------------------------------------------------------
    def count_api_call(self, method: str, path: str, soql_text: str = "") -> None:
        """Count one API request or refuse it (403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded.");
        a counted request goes into the request log."""
        with self.lock:
            if self.api_used >= self.api_max:
                raise err.RequestLimitExceeded()
            self.api_used += 1
            self.requests.append(ApiRequest(method, path, soql_text))

    def limit_info(self) -> str:
        return f"api-usage={self.api_used}/{self.api_max}"

    def take_fault(self, method: str, path: str, kinds: Iterable[str]) -> FaultRule | None:
        wanted = set(kinds)
        with self.lock:
            for rule in self.faults:
                if rule.kind in wanted and rule.times > 0 and rule.matches(method, path):
                    rule.times -= 1
                    if rule.times == 0:
                        self.faults.remove(rule)
                    return rule
        return None

    def take_record_lock(self, record_id: str) -> bool:
        with self.lock:
            for rule in self.faults:
                if rule.kind == "lock_records" and record_id in rule.record_ids and rule.times > 0:
                    rule.times -= 1
                    if rule.times == 0:
                        self.faults.remove(rule)
                    return True
        return False

    # -- field-level security ------------------------------------------------------------------
    def access(self, user_id: str | None, obj_name: str, field_name: str) -> str:
        """``edit``, ``read`` or ``none`` (hidden) for this user, from their profile and permission sets.

        What a hidden field does (sources): absent from describe ("If a user lacks read access to a
        field, it won't appear in the object description", help.people.ai on Salesforce FLS); in SOQL the
        same ``INVALID_FIELD`` "No such column" as a field that does not exist (salesforcedictionary.com
        INVALID_FIELD entry); in a REST write "No such column 'X' on sobject of type Y" (help.wegive.com).
        A read-only field is ``createable``/``updateable`` false in describe and a write answers
        ``INVALID_FIELD_FOR_INSERT_UPDATE`` "Unable to create/update fields: X. Please check the security
        settings of this field and verify that it is read/write for your profile or permission set."
        with ``fields`` (verbb/formie#1981)."""
        if field_name == "RecordTypeId" and not self.record_types_of(obj_name):
            return "none"  # the field exists only on objects the org gave record types
        if user_id is None:
            return "edit"
        return self.field_access.get(user_id, {}).get((obj_name, field_name), "edit")

    # -- record types ----------------------------------------------------------------------------
    def record_types_of(self, obj_name: str) -> list[Record]:
        """The object's active record types (``RecordType`` rows; the master type is not a row)."""
        return [
            r
            for r in self.stores["RecordType"].records.values()
            if r.get("SobjectType") == obj_name and r.get("IsActive")
        ]

    def add_record_type(
        self,
        obj_name: str,
        developer_name: str,
        values: dict[str, list[str]],
        *,
        label: str | None = None,
        default: bool = False,
    ) -> str:
        """A record type whose restricted picklists allow only ``values[field]`` (fields not named
        allow every value). Returns its id (012…)."""
        obj = self.object_def(obj_name)
        if "RecordTypeId" not in obj.fields:
            raise ValueError(f"{obj.name} has no record types in this sandbox (Lead has)")
        allowed: dict[str, frozenset[str]] = {}
        for name, wanted in values.items():
            f = obj.field_ci(name)
            if f is None or f.type != "picklist" or not isinstance(wanted, list):
                raise ValueError(f"{name!r} is not a picklist of {obj.name}, or its values are not a list")
            unknown = set(wanted) - f.picklist_values()
            if unknown:
                raise ValueError(f"{f.name} has no values {sorted(unknown)}")
            allowed[f.name] = frozenset(wanted)
        rt_id = self.create_raw(
            "RecordType",
            {
                "Name": label or developer_name.replace("_", " "),
                "DeveloperName": developer_name,
                "SobjectType": obj.name,
                "IsActive": True,
            },
            None,
        )
        with self.lock:
            self.record_type_values[rt_id] = allowed
            if default or obj.name not in self.default_record_type:
                self.default_record_type[obj.name] = rt_id
        return rt_id

    def allowed_values(self, obj: ObjectDef, record_type_id: str | None, field_name: str) -> set[str]:
        """The values a picklist allows for records of this type (all active ones for the master)."""
        f = obj.fields[field_name]
        per_type = self.record_type_values.get(record_type_id or "", {}).get(f.name)
        return set(per_type) if per_type is not None else f.picklist_values()

    def default_value(self, obj: ObjectDef, record_type_id: str | None, field_name: str) -> str | None:
        """A picklist's default for records of this type: each record type picks its own default among
        the values it allows (here: the picklist's default if allowed, else the first allowed value)."""
        allowed = self.allowed_values(obj, record_type_id, field_name)
        values = [v for v in obj.fields[field_name].picklist if v.active and v.value in allowed]
        default = next((v.value for v in values if v.default), None)
        return default or (values[0].value if values else None)

    def record_type_infos(self, obj_name: str, version: str) -> list[dict[str, Any]]:
        """describe's ``recordTypeInfos`` (api_rest resources_sobject_describe.htm): each type, then the
        master (012000000000000AAA). ``available``/``defaultRecordTypeMapping`` are per user on a real
        org; here every type is available and the master is available only when there are no others
        (UNVERIFIED)."""
        custom = sorted(self.record_types_of(obj_name), key=lambda r: r["Id"])
        default = self.default_record_type.get(obj_name)

        def info(rt_id: str, name: str, developer: str, master: bool) -> dict[str, Any]:
            return {
                "active": True,
                "available": not master or not custom,
                "defaultRecordTypeMapping": rt_id == default if not master else not custom,
                "developerName": developer,
                "master": master,
                "name": name,
                "recordTypeId": rt_id,
                "urls": {"layout": f"/services/data/v{version}/sobjects/{obj_name}/describe/layouts/{rt_id}"},
            }

        out = [info(r["Id"], r["Name"], r["DeveloperName"], False) for r in custom]
        out.append(info(MASTER_RECORD_TYPE_ID, "Master", "Master", True))
        return out

    def set_access(self, user_id: str, obj_name: str, field_name: str, access: str) -> None:
        obj = self.object_def(obj_name)
        f = obj.field_ci(field_name)
        if f is None or access not in {"none", "read", "edit"}:
            raise ValueError(f"no field {field_name!r} on {obj.name}, or access not none/read/edit")
        if f.name == "Id":
            raise ValueError("Id is always readable")
        with self.lock:
            self.field_access.setdefault(user_id, {})[(obj.name, f.name)] = access

    # -- schema helpers ------------------------------------------------------------------------
    def object_def(self, name: str) -> ObjectDef:
        for obj in SCHEMA.values():
            if obj.name.lower() == name.lower():
                return obj
        raise err.NotFound()

    def store(self, name: str) -> Store:
        return self.stores[self.object_def(name).name]

    def get(self, obj_name: str, record_id: str, *, include_deleted: bool = False) -> Record:
        """A record by id. A path segment that is not an id of this object is read as an external-id
        field name (restforce sobject_find_error_response.json: "Provided external ID field does not
        exist or is not accessible: 23foo")."""
        obj = self.object_def(obj_name)
        if not is_valid_id(record_id) or PREFIX_TO_OBJECT.get(record_id[:3]) != obj.name:
            raise err.NotFound(f"Provided external ID field does not exist or is not accessible: {record_id}")
        rec = self.stores[obj.name].records.get(to_18(record_id))
        if rec is None:
            raise err.NotFound()
        if rec["IsDeleted"] and not include_deleted:
            raise err.EntityIsDeleted()
        return rec

    def find(self, record_id: str) -> Record | None:
        name = PREFIX_TO_OBJECT.get(record_id[:3])
        if name is None or not is_valid_id(record_id):
            return None
        return self.stores[name].records.get(to_18(record_id))

    # -- writes --------------------------------------------------------------------------------
    def _coerce(self, obj: ObjectDef, f: FieldDef, value: Any) -> Any:
        """JSON value to stored value, with the type errors the API gives (messages UNVERIFIED)."""
        if value is None:
            return None
        t = f.type
        if t == "boolean":
            if not isinstance(value, bool):
                raise err.JsonParserError(
                    f"Cannot deserialize instance of boolean from VALUE_STRING value {value}"
                )
            return value
        if t in {"currency", "double", "int"}:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise err.JsonParserError(
                    f"Cannot deserialize instance of double from VALUE_STRING value {value}"
                )
            return float(value) if t != "int" else int(value)
        if not isinstance(value, str):
            value = str(value)
        if t == "datetime":
            try:
                return soql.parse_datetime(value)
            except err.MalformedQuery as exc:
                raise err.JsonParserError(
                    f"Cannot deserialize instance of datetime from VALUE_STRING value {value}"
                ) from exc
        if t == "date":
            try:
                return dt.date.fromisoformat(value[:10]).isoformat()
            except ValueError as exc:
                raise err.JsonParserError(
                    f"Cannot deserialize instance of date from VALUE_STRING value {value}"
                ) from exc
        if t == "reference":
            if not is_valid_id(value) or (PREFIX_TO_OBJECT.get(value[:3]) not in f.reference_to):
                raise err.MalformedId(f"{f.display_label}: id value of incorrect type: {value}", [f.name])
            target = self.find(value)
            if target is None or target.get("IsDeleted"):
                # A well-formed id of the right type that names no record (inferred for deleted ones).
                raise err.InvalidCrossReferenceKey(f"{f.display_label}: invalid cross reference id", [f.name])
            return to_18(value)
        if f.length and len(value) > f.length:
            raise err.StringTooLong(
                f"{f.display_label}: data value too large: {value[:40]} (max length={f.length})", [f.name]
            )
        if t == "email" and value and not EMAIL_RE.match(value):
            raise err.InvalidEmailAddress(f"{f.display_label}: invalid email address: {value}", [f.name])
        if t == "picklist" and f.restricted and value not in f.picklist_values():
            raise err.InvalidOrNullForRestrictedPicklist(
                f"{f.display_label}: bad value for restricted picklist field: {value}", [f.name]
            )
        return value if value != "" else None

    def check_json_types(self, obj_name: str, values: dict[str, Any]) -> None:
        """Deserialisation checks alone (JSON_PARSER_ERROR), as done for a whole request body first."""
        obj = self.object_def(obj_name)
        for key, value in values.items():
            f = obj.field_ci(key)
            if f is not None and f.type in {"boolean", "currency", "double", "int", "date", "datetime"}:
                self._coerce(obj, f, value)

    def _apply_fields(
        self, obj: ObjectDef, base: Record, values: dict[str, Any], creating: bool, user_id: str | None
    ) -> Record:
        rec = dict(base)
        blocked: list[str] = []
        for key, value in values.items():
            if key == "attributes" or (key.lower() == "id" and not creating):
                continue
            f = obj.field_ci(key)
            access = self.access(user_id, obj.name, f.name) if f is not None else "none"
            if f is None or access == "none":
                # REST body without ``fields`` (restforce spec/fixtures/sobject/write_error_response.json)
                raise err.InvalidField(f"No such column '{key}' on sobject of type {obj.name}")
            if access == "read" or not (f.createable if creating else f.updateable):
                blocked.append(f.name)
                continue
            rec[f.name] = self._coerce(obj, f, value)
        if blocked:
            raise err.InvalidFieldForInsertUpdate(
                f"Unable to create/update fields: {', '.join(blocked)}. "
                "Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                blocked,
            )
        return rec

    def _derive(self, obj: ObjectDef, rec: Record) -> None:
        if "Name" in obj.fields and obj.fields["Name"].calculated:
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        if obj.name == "Opportunity":
            rec["IsClosed"], rec["IsWon"] = OPPORTUNITY_STAGES.get(rec.get("StageName") or "", (False, False))
        if obj.name == "Task":
            closed = rec.get("Status") in CLOSED_TASK_STATUSES
            if closed and not rec.get("IsClosed"):
                rec["CompletedDateTime"] = self.now_ms()
            rec["IsClosed"] = closed

    def _validate(self, obj: ObjectDef, rec: Record, old: Record | None, *, allow_duplicates: bool) -> None:
        if "OwnerId" in obj.fields and not rec.get("OwnerId"):
            raise err.InvalidCrossReferenceKey("Owner ID: owner cannot be blank", ["OwnerId"])
        # Required fields, and fields that must hold a value though they are defaulted on create (Lead
        # Status): nulling one on update is REQUIRED_FIELD_MISSING "Required fields are missing: [X]"
        # (message form as in SalesforceFoundation/NPSP#2664; for Status on update: inferred).
        missing = [
            f.name
            for f in obj.fields.values()
            if (f.required or (not f.nillable and f.type != "boolean" and f.updateable and not f.system))
            and rec.get(f.name) in (None, "")
        ]
        if missing:
            raise err.RequiredFieldMissing(f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._check_record_type(obj, rec, old)
        if obj.name != "Lead":
            self._check_duplicates(obj, rec, old, allow_duplicates=allow_duplicates)
            return
        if old is not None and old.get("IsConverted") and not self.converted_leads_editable:
            raise err.CannotUpdateConvertedLead()
        # Org validation rule (a FIELD_CUSTOM_VALIDATION_EXCEPTION shown at the field; DOMAIN.md).
        if (
            self.validation_rule_active
            and rec.get("Status") == "Unqualified"
            and not rec.get("Unqualified_Reason__c")
        ):
            raise err.FieldCustomValidationException(UNQUALIFIED_MESSAGE, ["Unqualified_Reason__c"])
        self._check_duplicates(obj, rec, old, allow_duplicates=allow_duplicates)

    def _check_duplicates(
        self, obj: ObjectDef, rec: Record, old: Record | None, *, allow_duplicates: bool
    ) -> None:
        """The standard duplicate rules, active in new orgs ("It's activated by default", help
        duplicate_rules_standard_account_rule.htm): Leads are matched against Leads and Contacts,
        Contacts against Contacts, on Email or on first name + last name + company (the Contact's
        account name). The standard rules' action is Allow with an alert; through the API an alert
        still blocks the save unless ``Sforce-Duplicate-Rule-Header: allowSave=true`` is sent
        (SalesforceFoundation/NPSP#2475: "Duplicate rules set to allow save are still blocked in DML
        operations unless … AllowSave is specifically set"). ``duplicate_rule``: off | block |
        allow_with_header. UNVERIFIED: exact instead of fuzzy name matching; the match rule names."""
        if self.duplicate_rule == "off" or obj.name not in {"Lead", "Contact"}:
            return
        if self.duplicate_rule == "allow_with_header" and allow_duplicates:
            return
        keys = ("Email", "FirstName", "LastName", "Company", "AccountId")
        if old is not None and all(old.get(k) == rec.get(k) for k in keys):
            return  # nothing the matching rules look at changed
        matches: dict[str, list[str]] = {}
        for entity in ("Lead", "Contact") if obj.name == "Lead" else ("Contact",):
            found = self._matching(entity, rec, obj.name)
            if found:
                matches[entity] = found[:3]
        if matches:
            raise self._duplicates_error(obj.name, matches)

    def _matching(self, entity: str, rec: Record, source: str, company: str | None = None) -> list[str]:
        store = self.stores[entity]
        email = (rec.get("Email") or "").lower()
        if company is None:
            company = rec.get("Company") if source == "Lead" else self._account_name(rec.get("AccountId"))
        name = ((rec.get("FirstName") or "").lower(), (rec.get("LastName") or "").lower())
        out: list[str] = []
        candidates = store.lookup("Email", rec["Email"]) if email else set()
        if all(name) and company:
            candidates |= store.lookup("LastName", rec["LastName"])
        for rid in sorted(candidates):
            other = store.records[rid]
            if (
                rid == rec.get("Id")
                or other.get("IsDeleted")
                or (entity == "Lead" and other.get("IsConverted"))
            ):
                continue
            other_company = (
                other.get("Company") if entity == "Lead" else self._account_name(other.get("AccountId"))
            )
            same_email = bool(email) and (other.get("Email") or "").lower() == email
            same_name = (
                all(name)
                and bool(company)
                and ((other.get("FirstName") or "").lower(), (other.get("LastName") or "").lower()) == name
                and (other_company or "").lower() == str(company).lower()
            )
            if same_email or same_name:
                out.append(rid)
        return out

    def _account_name(self, account_id: Any) -> str | None:
        account = self.stores["Account"].records.get(account_id) if account_id else None
        return account.get("Name") if account else None

    def add_automation(self, **spec: Any) -> Automation:
        """A flow or trigger that runs when a record is saved (``automation.Automation``)."""
        auto = Automation(**spec)
        obj = self.object_def(auto.object)
        names = [auto.field, *auto.set]
        missing = [n for n in names if obj.field_ci(n) is None]
        if missing:
            raise ValueError(f"{obj.name} has no fields {missing}")
        auto.object = obj.name
        with self.lock:
            self.automations.append(auto)
        return auto

    def _automate(self, obj: ObjectDef, rec: Record, old: Record | None) -> None:
        """Run the org's automation on a record being saved (one pass, in the order added)."""
        for auto in list(self.automations):
            if auto.object != obj.name or not auto.fires(rec, old):
                continue
            auto.runs += 1
            if auto.kind != "update":
                raise auto.refusal()
            now = self.now_ms()
            today = dt.datetime.fromtimestamp(now / 1000, dt.UTC).date().isoformat()
            for name, value in auto.set.items():
                f = obj.field_ci(name)
                assert f is not None
                rec[f.name] = now if value == NOW else today if value == TODAY else value
            self._derive(obj, rec)

    def _check_record_type(self, obj: ObjectDef, rec: Record, old: Record | None) -> None:
        """A record type of another object or an inactive one: INVALID_CROSS_REFERENCE_KEY "Record Type
        ID: this ID value isn't valid for the user" (message from memory, UNVERIFIED). A restricted
        picklist value the record's type does not allow, when written or when the type changes:
        INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST "bad value for restricted picklist field" (inferred: the
        same answer as a value the picklist lacks)."""
        rt_id = rec.get("RecordTypeId")
        if not rt_id:
            return
        rt = self.stores["RecordType"].records.get(rt_id)
        if rt is None or rt.get("SobjectType") != obj.name or not rt.get("IsActive"):
            raise err.InvalidCrossReferenceKey(
                f"Record Type ID: this ID value isn't valid for the user: {rt_id}", ["RecordTypeId"]
            )
        for name, allowed in self.record_type_values.get(rt_id, {}).items():
            value = rec.get(name)
            changed = old is None or old.get(name) != value or old.get("RecordTypeId") != rt_id
            if value is not None and changed and obj.fields[name].restricted and value not in allowed:
                f = obj.fields[name]
                raise err.InvalidOrNullForRestrictedPicklist(
                    f"{f.display_label}: bad value for restricted picklist field: {value}", [f.name]
                )

    def _duplicates_error(self, obj_name: str, matches: dict[str, list[str]]) -> err.DuplicatesDetected:
        """DUPLICATES_DETECTED with the ``duplicateResut`` (sic, as Salesforce spells it) the REST API
        puts on a single-record save; collections results carry only statusCode/message/fields."""
        message = "Use one of these records?"
        result = {
            "allowSave": self.duplicate_rule == "allow_with_header",
            "duplicateRule": f"Standard_{obj_name}_Duplicate_Rule",
            "duplicateRuleEntityType": obj_name,
            "errorMessage": message,
            "matchResults": [
                {
                    "entityType": entity,
                    "errors": [],
                    "matchEngine": "FuzzyMatchEngine",
                    "matchRecords": [
                        {
                            "additionalInformation": [],
                            "fieldDiffs": [],
                            "matchConfidence": 100.0,
                            "record": {
                                "attributes": {
                                    "type": entity,
                                    "url": f"/services/data/v59.0/sobjects/{entity}/{i}",
                                },
                                "Id": i,
                            },
                        }
                        for i in ids
                    ],
                    "rule": f"Standard_{entity}_Match_Rule_v1_0",
                    "size": len(ids),
                    "success": True,
                }
                for entity, ids in matches.items()
            ],
        }
        return err.DuplicatesDetected(message, extra={"duplicateResut": result})

    def _stamp(self, rec: Record, user_id: str, now: int, creating: bool) -> None:
        if creating:
            rec["CreatedDate"] = now
            rec["CreatedById"] = user_id
        rec["LastModifiedDate"] = now
        rec["LastModifiedById"] = user_id
        rec["SystemModstamp"] = now

    def assign(self, obj: ObjectDef, rec: Record, auto_assign: bool) -> None:
        """Run the org's active lead assignment rule on a REST create/update of a Lead.

        REST ``Sforce-Auto-Assign`` (api_rest headers_autoassign.htm, "Assignment Rule Header"):
        ``TRUE`` or absent runs the active rule on create and update of Leads and Cases, ``FALSE``
        skips it. The sandbox's rule is the switch ``assignment_rule_owner`` (a User id; ``None`` = no
        active rule): when it runs, the record's ``OwnerId`` becomes that user."""
        if obj.name == "Lead" and auto_assign and self.assignment_rule_owner:
            rec["OwnerId"] = self.assignment_rule_owner

    def prepare_create(
        self,
        obj_name: str,
        values: dict[str, Any],
        user_id: str,
        *,
        allow_duplicates: bool = False,
        auto_assign: bool = False,
    ) -> Record:
        obj = self.object_def(obj_name)
        if obj.name in READ_ONLY_OBJECTS:  # code and message from memory, UNVERIFIED
            raise err.InvalidTypeForOperation(f"entity type cannot be inserted: {obj.name}")
        if any(k.lower() == "id" for k in values):
            raise err.InvalidFieldForInsertUpdate("cannot specify Id in an insert call", ["Id"])
        base: Record = {name: None for name in obj.fields}
        base["IsDeleted"] = False
        for f in obj.fields.values():
            default = next((v.value for v in f.picklist if v.default), None)
            if default is not None:
                base[f.name] = default
            if f.type == "boolean":
                base[f.name] = False
        if "OwnerId" in obj.fields:
            base["OwnerId"] = user_id
        if obj.name in self.default_record_type and self.record_types_of(obj.name):
            base["RecordTypeId"] = self.default_record_type[obj.name]
        rec = self._apply_fields(obj, base, values, creating=True, user_id=user_id)
        for name in self.record_type_values.get(rec.get("RecordTypeId") or "", {}):
            if name not in values and not any(k.lower() == name.lower() for k in values):
                rec[name] = self.default_value(obj, rec["RecordTypeId"], name)
        self._derive(obj, rec)
        self._automate(obj, rec, None)
        self._validate(obj, rec, None, allow_duplicates=allow_duplicates)
        self.assign(obj, rec, auto_assign)
        return rec

    def check_id(self, obj: ObjectDef, record_id: str) -> None:
        """MALFORMED_ID for an id that is not a well-formed id of this object (api_rest
        resources_composite_sobjects_collections_update.htm example: "Contact ID: id value of incorrect
        type: 001xx000003DGb2999", fields ["Id"])."""
        if not is_valid_id(record_id) or PREFIX_TO_OBJECT.get(record_id[:3]) != obj.name:
            raise err.MalformedId(f"{obj.name} ID: id value of incorrect type: {record_id}", ["Id"])

    def prepare_update(
        self,
        obj_name: str,
        record_id: str,
        values: dict[str, Any],
        *,
        allow_duplicates: bool = False,
        auto_assign: bool = False,
        user_id: str | None = None,
    ) -> Record:
        obj = self.object_def(obj_name)
        if obj.name in READ_ONLY_OBJECTS:  # UNVERIFIED, as for inserts
            raise err.InvalidTypeForOperation(f"entity type cannot be updated: {obj.name}")
        old = self.get(obj.name, record_id)
        if obj.name == "Lead" and old.get("IsConverted") and not self.converted_leads_editable:
            raise err.CannotUpdateConvertedLead()
        if self.take_record_lock(old["Id"]):
            raise err.UnableToLockRow(old["Id"])
        rec = self._apply_fields(obj, old, values, creating=False, user_id=user_id)
        self._derive(obj, rec)
        self._automate(obj, rec, old)
        self._validate(obj, rec, old, allow_duplicates=allow_duplicates)
        self.assign(obj, rec, auto_assign)
        return rec

    def commit(self, obj_name: str, rec: Record, user_id: str) -> str:
        obj = self.object_def(obj_name)
        store = self.stores[obj.name]
        with self.lock:
            creating = rec.get("Id") is None
            if creating:
                store.counter += 1
                rec["Id"] = make_id(KEY_PREFIXES[obj.name], store.counter)
            old = store.records.get(rec["Id"])
            rec = {k: v for k, v in rec.items() if v is not None}  # sparse: absent means null
            self._stamp(rec, user_id, self.now_ms(), creating)
            store.records[rec["Id"]] = rec
            store.index(rec, old)
        self._notify(obj.name, "created" if creating else "updated", rec)
        return str(rec["Id"])

    def _notify(self, obj_name: str, change: str, rec: Record) -> None:
        for listener in self.listeners:
            listener(obj_name, change, rec)

    def create(
        self,
        obj_name: str,
        values: dict[str, Any],
        user_id: str,
        *,
        allow_duplicates: bool = False,
        auto_assign: bool = False,
    ) -> str:
        return self.commit(
            obj_name,
            self.prepare_create(
                obj_name, values, user_id, allow_duplicates=allow_duplicates, auto_assign=auto_assign
            ),
            user_id,
        )

    def update(
        self,
        obj_name: str,
        record_id: str,
        values: dict[str, Any],
        user_id: str,
        *,
        allow_duplicates: bool = False,
        auto_assign: bool = False,
    ) -> None:
        rec = self.prepare_update(
            obj_name,
            record_id,
            values,
            allow_duplicates=allow_duplicates,
            auto_assign=auto_assign,
            user_id=user_id,
        )
        self.commit(obj_name, rec, user_id)

    def create_raw(
        self, obj_name: str, values: dict[str, Any], owner: str | None, at_ms: int | None = None
    ) -> str:
        """Seeding path: no validation, explicit timestamps (``at_ms``)."""
        obj = self.object_def(obj_name)
        store = self.stores[obj.name]
        rec: Record = {f.name: False for f in obj.fields.values() if f.type == "boolean"}
        rec.update((k, v) for k, v in values.items() if v is not None)
        if "OwnerId" in obj.fields:
            rec["OwnerId"] = rec.get("OwnerId") or owner
        self._derive(obj, rec)
        with self.lock:
            store.counter += 1
            rec["Id"] = make_id(KEY_PREFIXES[obj.name], store.counter)
            now = at_ms if at_ms is not None else self.now_ms()
            user = owner or rec["Id"]
            self._stamp(rec, user, now, creating=True)
            store.records[rec["Id"]] = rec
            store.index(rec, None)
        return str(rec["Id"])

    def delete(self, obj_name: str, record_id: str, user_id: str) -> None:
        obj = self.object_def(obj_name)
        store = self.stores[obj.name]
        with self.lock:
            old = self.get(obj.name, record_id)  # ENTITY_IS_DELETED on a second delete
            if self.take_record_lock(old["Id"]):
                raise err.UnableToLockRow(old["Id"])
            rec = dict(old)
            now = self.now_ms()
            rec["IsDeleted"] = True
            self._stamp(rec, user_id, now, creating=False)
            store.records[rec["Id"]] = rec
            store.index(rec, old)
            store.deleted_log.append((now, rec["Id"]))
        self._notify(obj.name, "deleted", rec)

    def upsert(
        self,
        obj_name: str,
        ext_field: str,
        ext_value: str,
        values: dict[str, Any],
        user_id: str,
        *,
        allow_duplicates: bool = False,
        auto_assign: bool = False,
    ) -> tuple[str, bool]:
        """Upsert by external id: 201 created / 200 updated / 300 several matches / 404 unknown field.

        (api_rest dome_upsert.htm; restforce upsert_multiple_error_response.json.) Matching ``Id`` as
        the key field is allowed, as on a real org.
        """
        obj = self.object_def(obj_name)
        f = obj.field_ci(ext_field)
        if (
            f is None
            or not (f.external_id or f.name == "Id")
            or self.access(user_id, obj.name, f.name) == "none"
        ):
            raise err.NotFound(f"Provided external ID field does not exist or is not accessible: {ext_field}")
        if f.name == "Id":
            matches = [to_18(ext_value)] if self.find(ext_value) else []
        else:
            store = self.stores[obj.name]
            matches = sorted(i for i in store.lookup(f.name, ext_value) if not store.records[i]["IsDeleted"])
        if len(matches) > 1:
            raise err.MultipleChoices(
                [f"/services/data/v{{version}}/sobjects/{obj.name}/{i}" for i in matches]
            )
        if matches:
            self.update(
                obj.name,
                matches[0],
                values,
                user_id,
                allow_duplicates=allow_duplicates,
                auto_assign=auto_assign,
            )
            return matches[0], False
        payload = dict(values)
        if f.name != "Id":
            payload[f.name] = ext_value
        created = self.create(
            obj.name, payload, user_id, allow_duplicates=allow_duplicates, auto_assign=auto_assign
        )
        return created, True

    def prepare_upsert(
        self,
        obj_name: str,
        ext_field: str,
        ext_value: str,
        values: dict[str, Any],
        user_id: str,
        *,
        allow_duplicates: bool = False,
        auto_assign: bool = False,
    ) -> Record:
        """One record of an sObject Collections upsert: the prepared record, with ``Id`` when it
        updates an existing one (api_rest resources_composite_sobjects_collections_upsert.htm). Several
        matches give DUPLICATE_EXTERNAL_ID (the UpsertResult code; message UNVERIFIED)."""
        obj = self.object_def(obj_name)
        f = obj.field_ci(ext_field)
        assert f is not None
        store = self.stores[obj.name]
        if f.name in store.by_value:
            found = store.lookup(f.name, ext_value)
        else:
            found = {
                i for i, r in store.records.items() if Store._key(r.get(f.name)) == Store._key(ext_value)
            }
        matches = sorted(i for i in found if not store.records[i]["IsDeleted"])
        if len(matches) > 1:
            raise err.DuplicateExternalId(
                f"{f.name}: more than one record found for external id field: {matches}", [f.name]
            )
        body = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
        if matches:
            return self.prepare_update(
                obj.name,
                matches[0],
                body,
                allow_duplicates=allow_duplicates,
                auto_assign=auto_assign,
                user_id=user_id,
            )
        return self.prepare_create(
            obj.name,
            {**body, f.name: ext_value},
            user_id,
            allow_duplicates=allow_duplicates,
            auto_assign=auto_assign,
        )

    def convert_lead(
        self,
        lead_id: str,
        converted_status: str,
        user_id: str,
        *,
        account_id: str | None = None,
        contact_id: str | None = None,
        opportunity_name: str | None = None,
        do_not_create_opportunity: bool = False,
    ) -> dict[str, Any]:
        """SOAP ``convertLead`` (api sforce_api_calls_convertlead.htm): Account, Contact, optional
        Opportunity (with a primary OpportunityContactRole), then the lead takes the converted status
        (which must be a converted one). Standard fields reach the Contact; custom fields only where
        the org mapped them (``lead_field_mapping``). Duplicate rules run on the new Contact (and refuse
        the conversion with DUPLICATES_DETECTED unless the rule is off). UNVERIFIED: the exact
        standard mapping beyond name/email/phone/title/source.
        """
        lead = self.get("Lead", lead_id)
        if lead["IsConverted"]:
            raise err.SalesforceApiError("Lead has already been converted.", [])
        statuses = {v.value for v in SCHEMA["Lead"].fields["Status"].picklist if v.converted}
        if converted_status not in statuses:
            raise err.InvalidStatus(f"invalid convertedStatus: {converted_status}", [])
        contact_values: Record = {k: lead.get(k) for k in STANDARD_CONVERTED_FIELDS}
        for lead_field, contact_field in self.lead_field_mapping.items():
            contact_values[contact_field] = lead.get(lead_field)
        if contact_id is None:
            # Duplicate rules run on the records conversion creates (checked before anything is
            # saved: conversion is one transaction, help "Duplicate rules and lead conversion" UNVERIFIED).
            probe = {**contact_values, "Id": None}
            found = self._matching("Contact", probe, "Contact", company=lead.get("Company"))
            if found and self.duplicate_rule != "off":  # no DuplicateRuleHeader on convertLead here
                raise self._duplicates_error("Contact", {"Contact": found[:3]})
        if account_id is None:
            account_id = self.create("Account", {"Name": lead["Company"]}, user_id)
        if contact_id is None:
            contact_id = self.create(
                "Contact", contact_values | {"AccountId": account_id}, user_id, allow_duplicates=True
            )
        opp_id = None
        if not do_not_create_opportunity:
            today = dt.datetime.fromtimestamp(self.now_ms() / 1000, dt.UTC).date().isoformat()
            opp_id = self.create(
                "Opportunity",
                {
                    "Name": opportunity_name or f"{lead['Company']}-",
                    "AccountId": account_id,
                    "ContactId": contact_id,
                    "StageName": "Prospecting",
                    "CloseDate": today,
                },
                user_id,
            )
            self.create(
                "OpportunityContactRole",
                {"OpportunityId": opp_id, "ContactId": contact_id, "IsPrimary": True},
                user_id,
            )
        rec = dict(lead)
        rec.update(
            IsConverted=True,
            Status=converted_status,
            ConvertedDate=dt.datetime.fromtimestamp(self.now_ms() / 1000, dt.UTC).date().isoformat(),
            ConvertedAccountId=account_id,
            ConvertedContactId=contact_id,
            ConvertedOpportunityId=opp_id,
        )
        self.commit("Lead", rec, user_id)
        return {
            "accountId": account_id,
            "contactId": contact_id,
            "leadId": lead["Id"],
            "opportunityId": opp_id,
            "success": True,
        }

    def merge(self, obj_name: str, master_id: str, loser_ids: list[str], user_id: str) -> dict[str, Any]:
        """A merge as the UI or SOAP ``merge()`` makes it (api sforce_api_calls_merge.htm): up to two
        records of the master's type are deleted with ``MasterRecordId`` set to the master (queryAll
        shows them; ``sobjects/X/deleted`` lists them), their Tasks and Events move to the master, and
        the master is saved (its own values kept). UNVERIFIED: the master's fields are not filled from
        the losers (the caller picks values on the real call), converted leads are refused with the
        text below."""
        obj = self.object_def(obj_name)
        if obj.name not in MERGEABLE_OBJECTS:
            raise err.SalesforceApiError(f"merge is not supported for {obj.name}", [])
        if not 1 <= len(loser_ids) <= 2:
            raise err.SalesforceApiError("merge takes one or two records besides the master", [])
        store = self.stores[obj.name]
        with self.lock:
            master = self.get(obj.name, master_id)
            losers = [self.get(obj.name, i) for i in loser_ids]
            if any(r["Id"] == master["Id"] for r in losers):
                raise err.SalesforceApiError("a record cannot be merged into itself", [])
            if any(r.get("IsConverted") for r in [master, *losers]):
                raise err.SalesforceApiError("converted leads cannot be merged", [])
            now = self.now_ms()
            for old in losers:
                rec = {**old, "IsDeleted": True, "MasterRecordId": master["Id"]}
                self._stamp(rec, user_id, now, creating=False)
                store.records[rec["Id"]] = rec
                store.index(rec, old)
                store.deleted_log.append((now, rec["Id"]))
            gone = {r["Id"] for r in losers}
            for child in ("Task", "Event"):
                kids = self.stores[child]
                for kid in [r for r in kids.records.values() if r.get("WhoId") in gone]:
                    moved = {**kid, "WhoId": master["Id"]}
                    self._stamp(moved, user_id, now, creating=False)
                    kids.records[kid["Id"]] = moved
                    kids.index(moved, kid)
            saved = dict(master)
            self._stamp(saved, user_id, now, creating=False)
            store.records[saved["Id"]] = saved
            store.index(saved, master)
        for old in losers:
            self._notify(obj.name, "deleted", store.records[old["Id"]])
        self._notify(obj.name, "updated", saved)
        return {"id": saved["Id"], "mergedRecordIds": sorted(gone), "success": True}

    def late_commit(self, obj_name: str, record_id: str, values: dict[str, Any], seconds_ago: float) -> None:
        """Commit a change whose ``SystemModstamp`` is older than ones already returned (airbyte#27146)."""
        obj = self.object_def(obj_name)
        store = self.stores[obj.name]
        with self.lock:
            old = self.get(obj.name, record_id)
            rec = self._apply_fields(obj, old, values, creating=False, user_id=None)
            self._derive(obj, rec)
            when = self.now_ms() - int(seconds_ago * 1000) // 1000 * 1000
            rec["LastModifiedDate"] = rec["SystemModstamp"] = when
            store.records[rec["Id"]] = rec
            store.index(rec, old)

    # -- getUpdated / getDeleted ---------------------------------------------------------------
    def _replication_window(self, start: str, end: str) -> tuple[int, int]:
        try:
            start_ms = soql.parse_datetime(start)
            end_ms = soql.parse_datetime(end)
        except err.MalformedQuery as exc:
            raise err.SalesforceApiError(f"Invalid date: {start} / {end}") from exc
        now = self.now_ms()
        if start_ms < now - GET_UPDATED_MAX_DAYS * 86_400_000:
            raise err.InvalidReplicationDate("startDate cannot be more than 30 days ago")
        if end_ms - start_ms <= REPLICATION_MIN_WINDOW_MS:
            # message UNVERIFIED
            raise err.InvalidReplicationDate(
                "EndDate must chronologically follow the StartDate by more than a minute"
            )
        # Seconds are truncated to the minute (resources-getupdated: 12:30:15 -> 12:30:00).
        return start_ms // 60_000 * 60_000, end_ms // 60_000 * 60_000

    def _latest_covered(self, hi: int) -> int:
        """``latestDateCovered`` never claims the unfinished current minute (UNVERIFIED detail)."""
        return min(hi, self.now_ms() // 60_000 * 60_000)

    def updated_ids(self, obj_name: str, start: str, end: str) -> tuple[list[str], int]:
        store = self.store(obj_name)
        lo, hi = self._replication_window(start, end)
        ids = []
        for rid in store.modstamp.scan(store.records, (lo, True)):
            rec = store.records[rid]
            if rec["SystemModstamp"] >= hi:
                break
            if not rec["IsDeleted"]:
                ids.append(rid)
        if len(ids) > GET_UPDATED_MAX_IDS:
            raise err.ExceededIdLimit("record limit reached. cannot submit more than 600,000 records")
        return ids, self._latest_covered(hi)

    def deleted_records(self, obj_name: str, start: str, end: str) -> tuple[list[tuple[str, int]], int, int]:
        store = self.store(obj_name)
        lo, hi = self._replication_window(start, end)
        self.purge_delete_log(store)
        out = [
            (rid, when)
            for when, rid in store.deleted_log
            if lo <= when < hi and store.records[rid]["IsDeleted"]
        ]
        return out, store.earliest_deleted_available or self.created_ms, self._latest_covered(hi)

    def purge_delete_log(self, store: Store) -> None:
        """Entries older than the retention leave the delete log; ``earliestDateAvailable`` becomes the
        deletion time of the last one purged ("the timestamp … of the last physically deleted object",
        api sforce_api_calls_getdeleted_getdeletedresult.htm). The records stay visible to queryAll
        here (on a real org they are physically gone: not modelled)."""
        cutoff = self.now_ms() - DELETED_RETENTION_DAYS * 86_400_000
        with self.lock:
            keep = [(when, rid) for when, rid in store.deleted_log if when >= cutoff]
            purged = [when for when, _ in store.deleted_log if when < cutoff]
            if purged:
                store.earliest_deleted_available = max(store.earliest_deleted_available or 0, *purged)
                store.deleted_log = keep

    # -- queries -------------------------------------------------------------------------------
    def open_cursor(
        self,
        q: soql.Query,
        ids: list[str],
        batch_size: int,
        include_deleted: bool,
        session: Session | None = None,
    ) -> QueryCursor:
        with self.lock:
            self.cursor_counter += 1
            locator = make_id(LOCATOR_PREFIX, self.cursor_counter)
            cursor = QueryCursor(locator, q.object, q, ids, 0, batch_size, include_deleted, time.monotonic())
            if session is not None:
                cursor.session_token, cursor.user_id = session.token, session.user_id
            now = time.monotonic()
            for key in [k for k, c in self.cursors.items() if now - c.touched > CURSOR_IDLE_SECONDS]:
                del self.cursors[key]
            mine = [k for k, c in self.cursors.items() if c.user_id == cursor.user_id]
            for key in mine[: max(0, len(mine) - CURSORS_PER_USER + 1)]:
                del self.cursors[key]  # dicts keep insertion order: oldest first
            self.cursors[locator] = cursor
        return cursor

    def cursor(self, locator: str, position: int, session: Session | None = None) -> QueryCursor:
        """An open cursor. A locator belongs to the session that opened it: after a re-login the old
        locator answers INVALID_SESSION_ID (airbytehq/airbyte#84302, observed on production orgs;
        switch: ``locators_bound_to_session``)."""
        cursor = self.cursors.get(locator)
        if (
            cursor is None
            or time.monotonic() - cursor.touched > CURSOR_IDLE_SECONDS
            or position > len(cursor.ids)
        ):
            raise err.InvalidQueryLocator()
        if (
            self.locators_bound_to_session
            and session is not None
            and cursor.session_token
            and session.token != cursor.session_token
        ):
            raise err.InvalidSessionId()
        cursor.touched = time.monotonic()
        return cursor


class Backend:
    """All tenants. ``reset()`` puts every org back to its freshly created state."""

    def __init__(self) -> None:
        self.orgs: dict[str, Org] = {}
        self.reset()

    def reset(self) -> None:
        for org in self.orgs.values():
            if org.outbound is not None:
                org.outbound.stop()
        org = Org()
        self.orgs = {org.org_id: org}
        self.default_org = org

    def org_for_token(self, token: str) -> tuple[Org, Session]:
        for org in self.orgs.values():
            if token in org.sessions:
                return org, org.session_for(token)
        raise err.InvalidSessionId()
