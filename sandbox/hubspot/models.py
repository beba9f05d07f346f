"""State of emulated HubSpot portals and the real API's rules, raising the real errors.

Everything here is transport-free: ``responses.py`` parses HTTP, calls these methods and serialises.
All mutation happens under ``Backend.lock`` (one process-wide lock; the HTTP server, the webhook
dispatcher and test control calls share it).

Fidelity notes (sources in shared/reference/hubspot-api.md):
- property values are strings; ``""`` clears [A, SPEC batch/update description];
- unknown property → PROPERTY_DOESNT_EXIST, read-only → READ_ONLY_VALUE, bad option → INVALID_OPTION,
  option value with surrounding whitespace → INVALID_OPTION [A, changelog Jan 2025]; all 400
  VALIDATION_ERROR "Property values were not valid: [...]" [B];
- duplicate email → 409 CONFLICT "Contact already exists. Existing ID: N" [B]; batch create/upsert
  with any invalid input refuses the whole batch [B, hubspot-api-python #51, Atlas-Authority #174];
- lifecycle forward-only [A legacy doc, B forum]: mode ``silent`` (default, keep old value, 200),
  ``reject`` (400 VALIDATION_ERROR, [C] text) or ``allow``;
- merge: survivor keeps ``hs_merged_object_ids``; reads of the merged id answer with the survivor [C];
- archive is soft; GET of an archived id is 404 unless ``archived=true`` [C]; DELETE of an unknown id
  is 204 [B, n8n PR #3219];
- timestamps ISO-8601 with ms and ``Z`` [A, SPEC example].
"""

from __future__ import annotations

import itertools
import random
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from publicsuffixlist import PublicSuffixList

from sandbox.hubspot import limits
from sandbox.hubspot.errors import (
    BadClientIdError,
    BadRefreshTokenError,
    BadRequestError,
    ConflictError,
    ExpiredAuthenticationError,
    HubSpotError,
    InvalidAuthenticationError,
    ObjectNotFoundError,
    PropertyValuesInvalidError,
    RateLimitedError,
    ValidationError,
)
from sandbox.hubspot.properties import (
    PropertyDef,
    default_properties,
)
from sandbox.hubspot.search import Doc, Evaluator, SearchIndex, SearchRequest

DEFAULT_PORTAL_ID = 12345678
DEFAULT_APP_ID = 987654
DEFAULT_PRIVATE_APP_TOKEN = "pat-na1-sandbox-0000"
DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_DEVELOPER_KEY = "sandbox-developer-key"
# Search is eventually consistent: a write shows in search results "up to 30 seconds" later in busy portals
# [B, hubspot-api-php #59, solspace/craft-freeform #2500]; a few seconds is typical (unverified). On by
# default so every client of the sandbox meets it; tests needing exact visibility set 0 explicitly.
DEFAULT_INDEX_LAG_MS = 2000


_PSL = PublicSuffixList(accept_unknown=False)
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def valid_email(value: str) -> bool:
    """HubSpot's address check as observed: a local part, ``@``, a dotted domain whose top-level domain
    exists. ``x@``, ``a@b``, ``jane@example`` and a misspelled TLD (``ymail.con``) are refused [B,
    HubspotCommunity/hubspot-ruby #231 "invalid email: redacted@ymail.con"; mautic #1074 "HubSpot also
    validates ... including a valid domain"]. The exact rule is unpublished: the sandbox uses the public
    suffix list's known TLDs (unverified: HubSpot may accept or refuse some that this does not)."""
    if not _EMAIL.match(value) or ".." in value or value.startswith("."):
        return False
    domain = value.rsplit("@", 1)[1].lower()
    return _PSL.publicsuffix(domain) is not None


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$")


def valid_date(value: str, kind: str) -> bool:
    """A date/datetime value HubSpot accepts: epoch milliseconds, or ISO 8601 (``YYYY-MM-DD`` for dates;
    with a time and zone, at most millisecond precision, for datetimes) [A, properties guide; the
    microsecond refusal is B, captured above]. Unverified: HubSpot may accept more spellings."""
    if value.isascii() and value.isdigit():
        return True
    pattern = _ISO_DATE if kind == "date" else _ISO_DATETIME
    if not pattern.match(value) and not (kind == "datetime" and _ISO_DATE.match(value)):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True)
class ObjectTypeSpec:
    name: str
    type_id: str
    singular: str  # for messages ("CONTACT") and webhook prefixes ("contact")
    default_properties: tuple[str, ...]
    unique_property: str | None


OBJECT_TYPES: dict[str, ObjectTypeSpec] = {
    "contacts": ObjectTypeSpec(
        "contacts",
        "0-1",
        "contact",
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        "email",
    ),
    "companies": ObjectTypeSpec(
        "companies",
        "0-2",
        "company",
        ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        None,
    ),
    "deals": ObjectTypeSpec(
        "deals",
        "0-3",
        "deal",
        (
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ),
        None,
    ),
}
TYPE_ALIASES = {
    **{k: k for k in OBJECT_TYPES},
    **{v.type_id: k for k, v in OBJECT_TYPES.items()},
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
}

# Association type ids, HUBSPOT_DEFINED [C, HubSpot's association type table, from memory; reference §5].
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int]] = {
    # (from, to): (default/unlabeled id, primary id)
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
    ("deals", "contacts"): (3, 3),
    ("contacts", "deals"): (4, 4),
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
}
ASSOCIATION_NAMES = {
    ("contacts", "companies"): "contact_to_company",
    ("companies", "contacts"): "company_to_contact",
    ("deals", "contacts"): "deal_to_contact",
    ("contacts", "deals"): "contact_to_deal",
    ("deals", "companies"): "deal_to_company",
    ("companies", "deals"): "company_to_deal",
}


def resolve_type(name: str) -> str:
    try:
        return TYPE_ALIASES[name.lower()]
    except KeyError:
        raise ObjectNotFoundError(f"Unable to infer object type from: {name}") from None


REQUEST_LOG_SIZE = 100_000  # the request log keeps this many of the latest accepted requests


@dataclass(frozen=True)
class ApiRequest:
    """One accepted API request in the request log (ours, not HubSpot's: tests and benches count the
    worker's calls by kind with it)."""

    method: str
    path: str

    def as_json(self) -> dict[str, str]:
        return {"method": self.method, "path": self.path}


@dataclass(frozen=True)
class Actor:
    """Who made a change: drives history ``sourceType``/``sourceId`` and webhook ``changeSource``.

    For app tokens HubSpot reports ``changeSource: INTEGRATION`` and the app id [C, not captured].
    """

    change_source: str
    source_id: str
    app_id: int | None = None


SYSTEM = Actor("CRM_UI", "userId:1")


@dataclass
class Record:
    id: int
    props: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None
    history: dict[str, list[tuple[str, int, str, str]]] | None = None
    # who created it: the source of the values it was created with, until a change records history
    # (kept as one tuple rather than per-property lists, so a million seeded records stay small)
    created_by: tuple[str, str] = ("CRM_UI", "")

    def initial_history(self, name: str) -> list[tuple[str, int, str, str]]:
        value = self.props.get(name)
        return [(value, self.created_ms, *self.created_by)] if value else []

    def doc(self) -> Doc:
        return Doc(self.id, self.props, self.created_ms, self.updated_ms, self.archived, self.archived_ms)


class Clock:
    """Wall clock plus an adjustable offset, so tests can age tokens and webhooks without sleeping."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms


@dataclass
class Settings:
    """Per-portal behaviour switches, all editable through ``/_sandbox/settings``."""

    lifecycle_mode: str = "silent"  # silent | reject | allow
    index_lag_ms: int = DEFAULT_INDEX_LAG_MS
    # each write's lag is index_lag_ms plus up to this much more (seeded): the index shows writes out of
    # the order they were made, as an eventually consistent index does [inferred: HubSpot documents
    # no order]; a record's later version never shows before its earlier one
    index_lag_jitter_ms: int = 0
    batch_order_seed: int = 0
    tier: limits.RateLimitTier = field(default_factory=limits.RateLimitTier)
    # the deal pipelines' closed stages → won? (a stage's metadata isClosed, and probability 1.0 for won);
    # what the calculated ``hs_is_closed`` / ``hs_is_closed_won`` deal properties are derived from
    closed_deal_stages: dict[str, bool] = field(
        default_factory=lambda: {"closedwon": True, "closedlost": False}
    )


class RateLimiter:
    """HubSpot's limits as a portal sees them: rolling 10 s per app, daily per account, search per second."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.windows: dict[int, deque[int]] = {}  # app id -> request times (the 10 s limit is per app [A])
        self.search_window: deque[int] = deque()
        self.daily_count = 0
        self.day = ""
        self.throttled = 0
        self.accepted = 0

    def reset(self) -> None:
        self.windows.clear()
        self.search_window.clear()
        self.daily_count = 0
        self.throttled = 0
        self.accepted = 0

    def check(
        self, tier: limits.RateLimitTier, *, search: bool, oauth: bool, app_id: int = 0
    ) -> dict[str, str]:
        now = self.clock.now_ms()
        window = self.windows.setdefault(app_id, deque())
        day = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y-%m-%d")
        if day != self.day:
            self.day, self.daily_count = day, 0
        while window and window[0] <= now - 10_000:
            window.popleft()
        while self.search_window and self.search_window[0] <= now - 1_000:
            self.search_window.popleft()
        if tier.daily is not None and not oauth and self.daily_count >= tier.daily:
            self.throttled += 1
            midnight = (now // 86_400_000 + 1) * 86_400_000
            raise RateLimitedError("DAILY", max(1, (midnight - now) // 1000))
        if tier.per_ten_seconds is not None and len(window) >= tier.per_ten_seconds:
            self.throttled += 1
            raise RateLimitedError("TEN_SECONDLY_ROLLING", max(1, -(-(window[0] + 10_000 - now) // 1000)))
        if (
            search
            and tier.search_per_second is not None
            and len(self.search_window) >= tier.search_per_second
        ):
            self.throttled += 1
            raise RateLimitedError("SECONDLY", 1)
        window.append(now)
        if search:
            self.search_window.append(now)
        self.daily_count += 1
        self.accepted += 1
        if search:
            return {}  # search answers carry no rate-limit headers [C, reference §3]
        headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
        if tier.per_ten_seconds is not None:
            headers["X-HubSpot-RateLimit-Max"] = str(tier.per_ten_seconds)
            headers["X-HubSpot-RateLimit-Remaining"] = str(tier.per_ten_seconds - len(window))
        if tier.daily is not None and not oauth:
            headers["X-HubSpot-RateLimit-Daily"] = str(tier.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(tier.daily - self.daily_count)
        return headers


@dataclass
class WebhookConfig:
    """App webhook settings: target URL, the app's client secret (signing key) and subscriptions."""

    target_url: str | None = None
    client_secret: str = DEFAULT_CLIENT_SECRET
    app_id: int = DEFAULT_APP_ID
    subscriptions: set[str] = field(
        default_factory=lambda: (
            {
                f"{o}.{e}"
                for o in ("contact", "company", "deal")
                for e in ("creation", "propertyChange", "deletion", "merge", "restore", "associationChange")
            }
            | {"contact.privacyDeletion"}
        )
    )
    property_names: set[str] | None = None  # None: all properties
    max_concurrent_requests: int = 10
    settings_created_ms: int | None = None
    settings_updated_ms: int | None = None
    # Subscriptions made through the webhooks v3 API; when any exist they replace ``subscriptions``.
    api_subscriptions: dict[int, dict[str, Any]] = field(default_factory=dict)
    retry_base_s: float = 60.0
    max_retries: int = limits.WEBHOOK_MAX_RETRIES
    timeout_s: float = 5.0
    batch_window_s: float = 0.05


class ObjectStore:
    """Records of one object type in one portal, with the search index and property definitions."""

    def __init__(self, portal: Portal, spec: ObjectTypeSpec) -> None:
        self.portal = portal
        self.spec = spec
        self.properties: dict[str, PropertyDef] = default_properties(spec.name)
        self.records: dict[int, Record] = {}
        self.unique: dict[str, int] = {}  # lower-cased unique value -> id
        # other unique properties (e.g. a create handle): value -> ids, built on the first lookup by
        # that property and kept current by every write (``_reindex``) and removal (``_forget``)
        self._by_value: dict[str, dict[str, set[int]]] = {}
        self._value_of: dict[str, dict[int, str]] = {}
        self.merged_into: dict[int, int] = {}
        self.index = SearchIndex()
        self.evaluator = Evaluator(self._kind)

    def _kind(self, prop: str) -> str:
        p = self.properties.get(prop)
        return p.type if p is not None else "string"

    # ---------------------------------------------------------------- lookups
    def get(self, raw_id: str, *, id_property: str | None = None, archived: bool = False) -> Record:
        rec = self.find(raw_id, id_property=id_property, archived=archived)
        if rec is None:
            raise ObjectNotFoundError()
        return rec

    def check_id_property(self, id_property: str) -> None:
        """Writes by ``idProperty`` need a unique property; ``hs_object_id`` is not one.

        Text [B]: "Unable to perform update/upsert by non-unique 0-2 property hs_object_id in portal ID
        21939747" (segmentio/action-destinations PR #3957; also hubspot-api-nodejs #548).
        """
        prop = self.properties.get(id_property)
        if id_property == self.spec.unique_property or (prop is not None and prop.has_unique_value):
            return
        raise ValidationError(
            f"Unable to perform update/upsert by non-unique {self.spec.type_id} property {id_property} "
            f"in portal ID {self.portal.id}"
        )

    def find(
        self, raw_id: str, *, id_property: str | None = None, archived: bool = False, write: bool = False
    ) -> Record | None:
        if id_property and write:
            self.check_id_property(id_property)
        if id_property and id_property != "hs_object_id":
            if id_property != self.spec.unique_property:
                prop = self.properties.get(id_property)
                if prop is None or not prop.has_unique_value:
                    raise ValidationError(f"{id_property} is not a unique property of {self.spec.type_id}")
                ids = self._ids_with(id_property, raw_id)
                rec = self.records[min(ids)] if ids else None
            else:
                rid = self.unique.get(raw_id.strip().lower())
                rec = self.records.get(rid) if rid is not None else None
        else:
            try:
                rid = int(raw_id)
            except ValueError:
                return None
            rid = self.merged_into.get(rid, rid)
            rec = self.records.get(rid)
        if rec is None or rec.archived != archived:
            return None
        return rec

    # ---------------------------------------------------------------- validation
    def validate(self, props: dict[str, Any]) -> dict[str, str]:
        """Coerce values to strings and check names, read-only flags and options; raise on any problem."""
        problems: list[dict[str, Any]] = []
        out: dict[str, str] = {}
        for name, raw in props.items():
            if raw is None:
                continue  # null is ignored, the old value stays; only "" clears [B, hubspot-api-nodejs #324]
            value = str(raw).lower() if isinstance(raw, bool) else str(raw)
            prop = self.properties.get(name)
            if prop is None or prop.archived:
                problems.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                        "localizedErrorMessage": f'Property "{name}" does not exist',
                    }
                )
                continue
            if prop.read_only_value:
                problems.append(
                    {
                        "isValid": False,
                        "message": f"{name} is a read only property; its value cannot be set.",
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                        "localizedErrorMessage": f"{name} is a read only property; its value cannot be set.",
                    }
                )
                continue
            if prop.type == "enumeration" and value != "":
                allowed = prop.option_values()
                chosen = value.split(";") if prop.field_type == "checkbox" else [value]
                bad = [c for c in chosen if c not in allowed]
                if bad:
                    msg = f"{bad[0]} was not one of the allowed options: [{', '.join(allowed)}]"
                    problems.append(
                        {
                            "isValid": False,
                            "message": msg,
                            "error": "INVALID_OPTION",
                            "name": name,
                            "localizedErrorMessage": msg,
                        }
                    )
                    continue
            if prop.type == "number" and value != "":
                try:
                    float(value)
                except ValueError:
                    msg = f"{value} is not a valid number"
                    problems.append(
                        {
                            "isValid": False,
                            "message": msg,
                            "error": "INVALID_INTEGER" if "." not in value else "INVALID_DOUBLE",
                            "name": name,
                            "localizedErrorMessage": msg,
                        }
                    )
                    continue
            if prop.type in ("date", "datetime") and value != "" and not valid_date(value, prop.type):
                # [B] captured: {"isValid":false,"message":"2019-05-13T12:05:53.602759Z was not a valid
                # long.","error":"INVALID_LONG","name":"createdate"}; wpfusion changelog: unconverted date
                # fields give "was not a valid long". v3 also takes ISO 8601 [A, properties guide].
                msg = f"{value} was not a valid long."
                problems.append({"isValid": False, "message": msg, "error": "INVALID_LONG", "name": name})
                continue
            if name == "email" and value != "" and not valid_email(value):
                # Shape and text [B]: captured 400 bodies "Property values were not valid:
                # [{\"isValid\":false,\"message\":\"Email address example.lcom is invalid\",
                # \"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]" (public repos' logs and tests).
                problems.append(
                    {
                        "isValid": False,
                        "message": f"Email address {value} is invalid",
                        "error": "INVALID_EMAIL",
                        "name": name,
                    }
                )
                continue
            out[name] = value
        if problems:
            raise PropertyValuesInvalidError(problems)
        return out

    def check_unique_free(self, props: dict[str, str], own_id: int | None = None) -> None:
        key = self.spec.unique_property
        if key and props.get(key):
            existing = self.unique.get(props[key].lower())
            if existing is not None and existing != own_id:
                raise ConflictError(existing)

    # ---------------------------------------------------------------- writes
    def _ids_with(self, prop: str, value: str) -> set[int]:
        if prop not in self._by_value:
            self._by_value[prop], self._value_of[prop] = {}, {}
            for rec in self.records.values():
                self._track(prop, rec)
        return self._by_value[prop].get(value, set())

    def _track(self, prop: str, rec: Record, *, gone: bool = False) -> None:
        old = self._value_of[prop].pop(rec.id, None)
        if old is not None:
            self._by_value[prop][old].discard(rec.id)
        new = None if gone else rec.props.get(prop)
        if new is not None:
            self._by_value[prop].setdefault(new, set()).add(rec.id)
            self._value_of[prop][rec.id] = new

    def _forget(self, rec: Record) -> None:
        for prop in self._by_value:
            self._track(prop, rec, gone=True)

    def _reindex(self, rec: Record) -> None:
        """A change becomes searchable ``index_lag_ms`` after it was made: at once for records written
        with a past timestamp older than the lag (seeded history), later for fresh writes."""
        for prop in self._by_value:
            self._track(prop, rec)
        lag = self.portal.settings.index_lag_ms
        jitter = self.portal.settings.index_lag_jitter_ms
        if jitter > 0:
            lag += self.portal.lag_rng.randint(0, jitter)
        visible_at = max(rec.updated_ms + lag, self.index.due.get(rec.id, 0))
        if visible_at <= self.portal.clock.now_ms():
            self.index.put_now(rec.doc())
        else:
            self.index.enqueue(visible_at, rec.id, rec.doc())

    def _stamp(self, props: dict[str, str], now: int, created: int) -> None:
        props["hs_object_id"] = str(props.get("hs_object_id") or "")
        props["createdate"] = iso(created) or ""
        props["hs_lastmodifieddate"] = iso(now) or ""
        if self.spec.name == "contacts":
            props["lastmodifieddate"] = iso(now) or ""
        if self.spec.name == "deals":  # calculated from the stage's pipeline metadata [unverified: timing]
            won = self.portal.settings.closed_deal_stages.get(props.get("dealstage") or "")
            props["hs_is_closed"] = "false" if won is None else "true"
            props["hs_is_closed_won"] = "true" if won else "false"

    def _lifecycle_dates(self, props: dict[str, str], old: str | None, new: str, now: int) -> None:
        if not new:
            return
        props[f"hs_v2_date_entered_{new}"] = iso(now) or ""
        props[f"hs_lifecyclestage_{new}_date"] = iso(now) or ""
        if old:
            props[f"hs_v2_date_exited_{old}"] = iso(now) or ""

    def create(self, raw_props: dict[str, Any], actor: Actor, *, created_ms: int | None = None) -> Record:
        props = self.validate(raw_props)
        self.check_unique_free(props)
        return self._insert(props, actor, created_ms=created_ms)

    def _insert(self, props: dict[str, str], actor: Actor, *, created_ms: int | None = None) -> Record:
        now = self.portal.clock.now_ms()
        created = created_ms if created_ms is not None else now
        rid = self.portal.next_id()
        values = {k: v for k, v in props.items() if v != ""}
        if values.get("lifecyclestage") and "lifecyclestage" in self.properties:
            self._lifecycle_dates(values, None, values["lifecyclestage"], created)
        self._stamp(values, created if created_ms is not None else now, created)
        values["hs_object_id"] = str(rid)
        rec = Record(
            id=rid,
            props=values,
            created_ms=created,
            updated_ms=created if created_ms is not None else now,
            created_by=(actor.change_source, actor.source_id),
        )
        self.records[rid] = rec
        key = self.spec.unique_property
        if key and values.get(key):
            self.unique[values[key].lower()] = rid
        self._reindex(rec)
        self.portal.emit(self.spec, "creation", rec.id, actor, changeFlag="CREATED")
        for name, value in props.items():
            if value != "":
                self.portal.emit(
                    self.spec, "propertyChange", rec.id, actor, propertyName=name, propertyValue=value
                )
        return rec

    def update(self, rec: Record, raw_props: dict[str, Any], actor: Actor) -> Record:
        props = self.validate(raw_props)
        self.check_unique_free(props, own_id=rec.id)
        return self._apply_update(rec, props, actor)

    def _apply_update(self, rec: Record, props: dict[str, str], actor: Actor) -> Record:
        now = self.portal.clock.now_ms()
        new_stage = props.get("lifecyclestage")
        old_stage = rec.props.get("lifecyclestage")
        if new_stage and old_stage and new_stage != old_stage and "lifecyclestage" in self.properties:
            prop = self.properties["lifecyclestage"]
            if prop.option_rank(new_stage) < prop.option_rank(old_stage):
                mode = self.portal.settings.lifecycle_mode
                if mode == "reject":
                    # [C] text: HubSpot documents silent no-op (mode "silent"); a rejecting mode is a switch.
                    raise ValidationError(
                        f"lifecyclestage cannot move backwards from {old_stage} to {new_stage}; "
                        'set it to "" first, then to the earlier stage in a separate request',
                    )
                if mode == "silent":
                    props = {k: v for k, v in props.items() if k != "lifecyclestage"}
        changed = {k: v for k, v in props.items() if rec.props.get(k, "") != v}
        if not changed:
            return rec
        if rec.history is None:
            rec.history = {k: rec.initial_history(k) for k in rec.props if k in self.properties}
        values = dict(rec.props)  # copy-on-write: the search index may still hold the old dict
        key = self.spec.unique_property
        for k, v in changed.items():
            if k == key:
                if rec.props.get(k):
                    self.unique.pop(rec.props[k].lower(), None)
                if v:
                    self.unique[v.lower()] = rec.id
            if k == "lifecyclestage":
                self._lifecycle_dates(values, rec.props.get(k), v, now)
            if v == "":
                values.pop(k, None)
            else:
                values[k] = v
            rec.history.setdefault(k, []).insert(0, (v, now, actor.change_source, actor.source_id))
        self._stamp(values, now, rec.created_ms)
        values["hs_object_id"] = str(rec.id)
        rec.props = values
        rec.updated_ms = now
        self._reindex(rec)
        for k, v in changed.items():
            self.portal.emit(self.spec, "propertyChange", rec.id, actor, propertyName=k, propertyValue=v)
        return rec

    def archive(self, raw_id: str, actor: Actor) -> None:
        rec = self.find(raw_id)
        if rec is None:
            return  # 204 even when it does not exist [B, n8n PR #3219]
        now = self.portal.clock.now_ms()
        rec.archived, rec.archived_ms = True, now
        key = self.spec.unique_property
        if key and rec.props.get(key):
            self.unique.pop(rec.props[key].lower(), None)
        self._reindex(rec)
        self.portal.emit(self.spec, "deletion", rec.id, actor, changeFlag="DELETED")

    def purge(self, raw_id: str, actor: Actor, *, id_property: str | None = None) -> None:
        """GDPR delete: permanent, 204 even when absent [A, SPEC]; fires ``privacyDeletion``."""
        rec = self.find(raw_id, id_property=id_property) or self.find(
            raw_id, id_property=id_property, archived=True
        )
        if rec is None:
            return  # HubSpot adds an unknown email to a blocklist [A]; not modelled
        self._forget(rec)
        del self.records[rec.id]
        key = self.spec.unique_property
        if key and rec.props.get(key) and self.unique.get(rec.props[key].lower()) == rec.id:
            del self.unique[rec.props[key].lower()]
        self.index.enqueue(self.portal.clock.now_ms(), rec.id, None)
        self.index.catch_up(self.portal.clock.now_ms())
        for other in list(self.portal.associations.get((self.spec.name, rec.id), {})):
            self.portal.dissociate(self.spec.name, rec.id, *other)
        self.portal.emit(self.spec, "privacyDeletion", rec.id, actor, changeFlag="DELETED")

    def merge(self, primary_id: str, merged_id: str, actor: Actor) -> Record:
        primary = self.get(primary_id)
        other = self.get(merged_id)
        if primary.id == other.id:
            raise ValidationError("Cannot merge an object with itself")
        moved = 0
        values = dict(primary.props)
        for k, v in other.props.items():
            if k in ("hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"):
                continue
            if v and not values.get(k):
                values[k] = v
                moved += 1
        merged_ids = [x for x in values.get("hs_merged_object_ids", "").split(";") if x]
        merged_ids += [str(other.id)] + [
            x for x in other.props.get("hs_merged_object_ids", "").split(";") if x
        ]
        values["hs_merged_object_ids"] = ";".join(merged_ids)
        if self.spec.name == "contacts":
            values["hs_calculated_merged_vids"] = ";".join(
                f"{m}:{self.portal.clock.now_ms()}" for m in merged_ids
            )
        now = self.portal.clock.now_ms()
        self._stamp(values, now, primary.created_ms)
        values["hs_object_id"] = str(primary.id)
        primary.props, primary.updated_ms = values, now
        self._forget(other)
        del self.records[other.id]
        self.merged_into[other.id] = primary.id
        for old, new in list(self.merged_into.items()):
            if new == other.id:
                self.merged_into[old] = primary.id
        key = self.spec.unique_property
        if key and other.props.get(key):
            self.unique[other.props[key].lower()] = primary.id
        self.index.enqueue(now, other.id, None)
        self.index.catch_up(now) if self.portal.settings.index_lag_ms <= 0 else None
        self._reindex(primary)
        self.portal.emit(
            self.spec,
            "merge",
            primary.id,
            actor,
            primaryObjectId=primary.id,
            mergedObjectIds=[other.id],
            newObjectId=primary.id,
            numberOfPropertiesMoved=moved,
        )
        return primary

    # ---------------------------------------------------------------- search
    def search(self, req: SearchRequest) -> tuple[int, list[Record], int | None]:
        """Return (total, page records, next offset); 400 when paging past 10,000 results.

        A page straddling the ceiling is cut at the 10,000th result but still carries ``paging.next``;
        requesting that page is a 400 [B, DOCS-SEARCH "The search endpoints are limited to 10,000 total
        results for any given query. Attempting to page beyond 10,000 will result in a 400 error"].
        ``total`` stays the true count. A filter on a property the type does not have is the generic
        400 [B, ``BadRequestError``].
        """
        if req.after >= limits.SEARCH_MAX_RESULTS:
            # [B] "Attempting to page beyond 10,000 will result in a 400 error" (activepieces PR #10160
            # quoting HubSpot's search guide; hubspot-api-nodejs #132: after 10,000 "throws an error").
            # Body: the generic search 400 (unverified for this case).
            raise BadRequestError()
        for group in req.groups:
            for f in group:
                if f.prop not in self.properties:
                    raise BadRequestError()  # [B] unknown property name in a filter
        self.index.catch_up(self.portal.clock.now_ms())
        total, page_ids = self.index.page(req, self.evaluator)
        page = [self._search_view(i) for i in page_ids[: limits.SEARCH_MAX_RESULTS - req.after]]
        nxt = req.after + req.limit
        # HubSpot still offers the next page at the ceiling; asking for it is the 400 above [B, issue 9].
        more = nxt < total
        return total, [r for r in page if r is not None], (nxt if more else None)

    def _search_view(self, rid: int) -> Record | None:
        doc = self.index.docs.get(rid)
        if doc is None:
            return None
        return Record(doc.id, doc.props, doc.created_ms, doc.updated_ms, doc.archived, doc.archived_ms)


class Auth:
    """Private-app tokens (never expire) and OAuth access/refresh tokens (expire after ``expires_in``)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.private_tokens: dict[str, tuple[int, int]] = {}  # token -> (portal id, app id)
        self.access_tokens: dict[str, tuple[int, int, int]] = {}  # token -> (portal, app, expires ms)
        self.refresh_tokens: dict[str, tuple[int, int]] = {}
        self.clients: dict[str, tuple[str, int]] = {}  # client id -> (secret, app id)
        self.developer_keys: dict[str, int] = {}  # developer API key (hapikey) -> app id
        self.access_ttl_s = limits.OAUTH_ACCESS_TOKEN_TTL_S

    def authenticate(self, header: str | None) -> tuple[int, int, bool]:
        """(portal id, app id, is_oauth) for an ``Authorization: Bearer`` header, or raise 401."""
        if not header or not header.lower().startswith("bearer "):
            raise InvalidAuthenticationError()
        token = header[7:].strip()
        if token in self.private_tokens:
            portal, app = self.private_tokens[token]
            return portal, app, False
        entry = self.access_tokens.get(token)
        if entry is None:
            raise InvalidAuthenticationError()
        portal, app, expires = entry
        now = self.clock.now_ms()
        if now >= expires:
            raise ExpiredAuthenticationError(max(0, (now - expires) // 1000), iso(expires) or "")
        return portal, app, True

    def developer_app(self, hapikey: str | None) -> int:
        """The app a developer API key (``?hapikey=``) belongs to, or 401 [A, SPEC webhooks security]."""
        if not hapikey or hapikey not in self.developer_keys:
            raise InvalidAuthenticationError()
        return self.developer_keys[hapikey]

    def refresh(self, form: dict[str, str], portal_id: int) -> dict[str, Any]:
        client_id = form.get("client_id", "")
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client[0], form.get("client_secret", "")):
            raise BadClientIdError()
        grant = form.get("grant_type")
        if grant != "refresh_token":
            raise ValidationError(f"unsupported grant_type: {grant}")
        rt = form.get("refresh_token", "")
        entry = self.refresh_tokens.get(rt)
        if entry is None:
            raise BadRefreshTokenError()
        portal, app = entry
        token = "oat-" + uuid.uuid4().hex
        self.access_tokens[token] = (portal, app, self.clock.now_ms() + self.access_ttl_s * 1000)
        return {
            "access_token": token,
            "refresh_token": rt,
            "expires_in": self.access_ttl_s,
            "token_type": "bearer",
            "token_use": "access_token",
            "hub_id": portal,
            "user_id": 1,
            "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write"],
        }

    def issue_oauth(self, portal: int, app: int, ttl_s: int | None = None) -> tuple[str, str]:
        """Control helper: an access token and its refresh token for ``portal``."""
        token = "oat-" + uuid.uuid4().hex
        rt = "ort-" + uuid.uuid4().hex
        self.access_tokens[token] = (portal, app, self.clock.now_ms() + (ttl_s or self.access_ttl_s) * 1000)
        self.refresh_tokens[rt] = (portal, app)
        return token, rt


class Portal:
    """One HubSpot account: object stores, associations, settings, limits and webhook outbox."""

    def __init__(self, backend: Backend, portal_id: int) -> None:
        self.backend = backend
        self.id = portal_id
        self.clock = backend.clock
        self.settings = Settings()
        self.webhooks = WebhookConfig()
        self.limiter = RateLimiter(self.clock)
        self._ids = itertools.count(1001)
        self._event_ids = itertools.count(100_000_001)
        self.stores: dict[str, ObjectStore] = {n: ObjectStore(self, s) for n, s in OBJECT_TYPES.items()}
        # (from type, from id) -> {(to type, to id): {type ids}}
        self.associations: dict[tuple[str, int], dict[tuple[str, int], set[int]]] = {}
        self.outbox: deque[dict[str, Any]] = deque()
        self.requests: deque[ApiRequest] = deque(maxlen=REQUEST_LOG_SIZE)  # accepted API requests
        self._order = random.Random(self.settings.batch_order_seed)
        self.lag_rng = random.Random(0)  # the index lag's jitter: the same run every reset

    def next_id(self) -> int:
        return next(self._ids)

    def shuffle(self, items: list[Any]) -> None:
        """Reorder a batch answer: HubSpot returns batch results in no guaranteed order [B, nodejs #190]."""
        if len(items) > 1:
            self._order.shuffle(items)

    def reseed_order(self) -> None:
        self._order = random.Random(self.settings.batch_order_seed)

    def store(self, object_type: str) -> ObjectStore:
        return self.stores[resolve_type(object_type)]

    def emit(self, spec: ObjectTypeSpec, event: str, object_id: int, actor: Actor, **fields: Any) -> None:
        cfg = self.webhooks
        sub = f"{spec.singular}.{event}"
        if cfg.target_url is None:
            return
        if cfg.api_subscriptions:
            matches = [
                s
                for s in cfg.api_subscriptions.values()
                if s["active"]
                and s["eventType"] == sub
                and (event != "propertyChange" or s.get("propertyName") in (None, fields.get("propertyName")))
            ]
            if not matches:
                return
            subscription_id = int(matches[0]["id"])
        elif sub not in cfg.subscriptions:
            return
        else:
            subscription_id = abs(hash(sub)) % 1_000_000
        if (
            event == "propertyChange"
            and cfg.property_names is not None
            and fields.get("propertyName") not in cfg.property_names
        ):
            return
        doc: dict[str, Any] = {
            "eventId": next(self._event_ids),
            "subscriptionId": subscription_id,
            "portalId": self.id,
            "appId": cfg.app_id,
            "occurredAt": self.clock.now_ms(),
            "subscriptionType": sub,
            "attemptNumber": 0,
            "objectId": object_id,
            "changeSource": actor.change_source,
            "sourceId": actor.source_id,
        }
        doc.update(fields)
        self.outbox.append(doc)
        self.backend.wake_dispatcher()

    # ---------------------------------------------------------------- associations
    def associate(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: set[int], actor: Actor
    ) -> None:
        pair = ASSOCIATION_TYPES.get((from_type, to_type))
        back = ASSOCIATION_TYPES.get((to_type, from_type))
        if pair is None or back is None:
            raise ValidationError(f"No association type between {from_type} and {to_type}")
        self.associations.setdefault((from_type, from_id), {}).setdefault((to_type, to_id), set()).update(
            type_ids
        )
        mirrored = {back[0] if t == pair[0] else back[1] for t in type_ids}
        self.associations.setdefault((to_type, to_id), {}).setdefault((from_type, from_id), set()).update(
            mirrored
        )
        self._association_events(
            from_type, from_id, to_type, to_id, actor, removed=False, primary=pair[1] in type_ids
        )

    def _association_events(
        self,
        from_type: str,
        from_id: int,
        to_type: str,
        to_id: int,
        actor: Actor,
        *,
        removed: bool,
        primary: bool,
    ) -> None:
        """One ``associationChange`` event per side of the pair, ``associationRemoved`` on unlink [B,
        HubSpot webhooks guide: association change events fire for both records of the association and
        carry ``associationRemoved``; the exact field set per side is unverified]."""
        for a_type, a_id, b_type, b_id in (
            (from_type, from_id, to_type, to_id),
            (to_type, to_id, from_type, from_id),
        ):
            self.emit(
                OBJECT_TYPES[a_type],
                "associationChange",
                a_id,
                actor,
                associationType=f"{OBJECT_TYPES[a_type].singular.upper()}_TO_{OBJECT_TYPES[b_type].singular.upper()}",
                fromObjectId=a_id,
                toObjectId=b_id,
                associationRemoved=removed,
                isPrimaryAssociation=primary,
            )

    def dissociate(
        self, from_type: str, from_id: int, to_type: str, to_id: int, actor: Actor | None = None
    ) -> None:
        existed = (to_type, to_id) in self.associations.get((from_type, from_id), {})
        self.associations.get((from_type, from_id), {}).pop((to_type, to_id), None)
        self.associations.get((to_type, to_id), {}).pop((from_type, from_id), None)
        if existed and actor is not None:
            self._association_events(from_type, from_id, to_type, to_id, actor, removed=True, primary=False)

    def associated(self, from_type: str, from_id: int, to_type: str) -> list[tuple[int, set[int]]]:
        links = self.associations.get((from_type, from_id), {})
        return sorted((tid, types) for (tt, tid), types in links.items() if tt == to_type)


class Backend:
    """All portals of one sandbox, the shared clock, auth and the lock; ``reset()`` restores defaults."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.auth = Auth(self.clock)
        self.portals: dict[int, Portal] = {}
        self.faults: list[dict[str, Any]] = []
        self._wake: Callable[[], None] = lambda: None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clock.offset_ms = 0
            self.auth = Auth(self.clock)
            self.portals = {DEFAULT_PORTAL_ID: Portal(self, DEFAULT_PORTAL_ID)}
            self.auth.private_tokens[DEFAULT_PRIVATE_APP_TOKEN] = (DEFAULT_PORTAL_ID, DEFAULT_APP_ID)
            self.auth.clients[DEFAULT_CLIENT_ID] = (DEFAULT_CLIENT_SECRET, DEFAULT_APP_ID)
            self.auth.developer_keys[DEFAULT_DEVELOPER_KEY] = DEFAULT_APP_ID
            self.faults = []

    @property
    def portal(self) -> Portal:
        return self.portals[DEFAULT_PORTAL_ID]

    def set_dispatcher_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def wake_dispatcher(self) -> None:
        self._wake()

    def take_fault(self, path: str) -> dict[str, Any] | None:
        """The first armed fault matching ``path``; counted faults disarm when used up. A fault with
        ``skip`` lets that many matching requests through first (to fail the second of two calls)."""
        for f in self.faults:
            if path.startswith(f.get("path_prefix", "")):
                if f.get("skip", 0) > 0:
                    f["skip"] -= 1
                    return None
                if "count" in f:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.faults.remove(f)
                return f
        return None


__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PORTAL_ID",
    "DEFAULT_PRIVATE_APP_TOKEN",
    "SYSTEM",
    "Actor",
    "Backend",
    "HubSpotError",
    "ObjectStore",
    "Portal",
    "Record",
    "iso",
    "resolve_type",
]
