"""The core's record model, and normalisation from each CRM's own JSON.

A Salesforce Lead/Contact as the REST API returns it (``attributes``, ``Id``, ``Status``,
``IsConverted``, ``ConvertedContactId`` …) and a HubSpot contact as CRM v3 returns it (``id``,
``properties``, ``updatedAt`` …) become small immutable records. Values stay in each CRM's own
vocabulary here; translation to canonical stage/status ids is the planner's job, through the map.

Every function raises ``InputError`` naming the offending key when the JSON is not a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from worker.errors import InputError

Value = str | None
"""Field values are compared as text: HubSpot sends every property as a string; Salesforce picklists and
text fields are strings; other scalars are rendered with ``str`` by ``_text``."""


@dataclass(frozen=True, slots=True)
class SalesforceRecord:
    object_type: str  # "Lead" | "Contact"
    id: str
    values: Mapping[str, Value]
    modified_ms: int | None = None  # SystemModstamp (or LastModifiedDate), epoch milliseconds
    is_converted: bool = False
    converted_contact_id: str | None = None
    converted_account_id: str | None = None
    converted_opportunity_id: str | None = None
    is_deleted: bool = False

    def get(self, api_name: str) -> Value:
        return self.values.get(api_name)


@dataclass(frozen=True, slots=True)
class HubSpotRecord:
    id: str
    properties: Mapping[str, Value]
    modified_ms: int | None = None  # updatedAt / lastmodifieddate, epoch milliseconds
    archived: bool = False

    def get(self, name: str) -> Value:
        return self.properties.get(name)


@dataclass(frozen=True, slots=True)
class Opportunity:
    id: str
    stage_name: str = ""
    is_closed: bool = False
    is_won: bool = False

    @property
    def state(self) -> str:
        if not self.is_closed:
            return "open"
        return "won" if self.is_won else "lost"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the automation rules read besides the two records (from related CRM objects)."""

    opportunities: tuple[Opportunity, ...] = ()
    account_is_customer: bool = False
    account_churned: bool = False
    completed_calls: frozenset[str] = frozenset()
    meetings: frozenset[str] = frozenset()
    converted: bool = False
    # Whether the person is new: None (the default) derives it — a person met for the first time (no
    # base) is new, so new_lead_at_customer_account fires; False says the person predates the worker
    # (a backfill of old records), True insists. Only read on first sight.
    new_record: bool | None = None

    def digest(self) -> FactsDigest:
        if self is EMPTY_FACTS or self == EMPTY_FACTS:
            return EMPTY_DIGEST
        return FactsDigest(
            opportunities=tuple(sorted((o.id, o.state) for o in self.opportunities)),
            account_is_customer=self.account_is_customer,
            account_churned=self.account_churned,
            completed_calls=self.completed_calls,
            meetings=self.meetings,
            converted=self.converted,
        )


class FactsDigest(NamedTuple):
    """The part of the facts kept in the base snapshot, so fact events fire exactly once."""

    opportunities: tuple[tuple[str, str], ...] = ()  # (id, open|won|lost), sorted
    account_is_customer: bool = False
    account_churned: bool = False
    completed_calls: frozenset[str] = frozenset()
    meetings: frozenset[str] = frozenset()
    converted: bool = False


EMPTY_FACTS = Facts()
EMPTY_DIGEST = FactsDigest()


@dataclass(frozen=True, slots=True)
class Base:
    """What was last synced, per map field id: the canonical value and the value each side held.

    Keeping each side's own value (not only the canonical one) is what makes echo detection exact:
    a side changed iff its value differs from what it held after the last sync, even where several
    stages share one HubSpot value or a stage has no value on one side.
    """

    values: Mapping[str, Value]
    salesforce_values: Mapping[str, Value]
    hubspot_values: Mapping[str, Value]
    facts: FactsDigest = EMPTY_DIGEST
    salesforce_object: str | None = None
    salesforce_id: str | None = None
    hubspot_id: str | None = None


# --- normalisation ---------------------------------------------------------------------------------


def _text(value: Any, where: str) -> Value:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InputError(f"{where}: expected a scalar value, got {type(value).__name__}")


def parse_timestamp_ms(value: Any, where: str) -> int | None:
    """Salesforce (``2024-01-02T03:04:05.000+0000``), HubSpot (``…Z``) or epoch-ms text → epoch ms."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{where}: {value!r} is not an ISO-8601 timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise InputError(f"{where}: expected a timestamp, got {type(value).__name__}")


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    return raw


def salesforce_record(raw: Any, *, object_type: str | None = None) -> SalesforceRecord:
    """Normalise one Salesforce REST record (``sf.Lead.get`` / a ``query`` result row)."""
    data = _mapping(raw, "salesforce record")
    attributes = data.get("attributes")
    kind = object_type
    if kind is None and isinstance(attributes, Mapping):
        kind = attributes.get("type")
    if not isinstance(kind, str) or kind not in {"Lead", "Contact"}:
        raise InputError(
            f"salesforce record: attributes.type must be 'Lead' or 'Contact' (got {kind!r}); "
            "pass object_type for records without attributes"
        )
    record_id = data.get("Id")
    if not isinstance(record_id, str) or not record_id:
        raise InputError("salesforce record: 'Id' is missing or not text")
    values: dict[str, Value] = {}
    for key, value in data.items():
        if key == "attributes" or isinstance(value, Mapping | list):
            continue  # relationship sub-objects are facts, not fields
        values[key] = _text(value, f"salesforce record {record_id}: {key}")
    modified = data.get("SystemModstamp", data.get("LastModifiedDate"))
    return SalesforceRecord(
        object_type=kind,
        id=record_id,
        values=values,
        modified_ms=parse_timestamp_ms(modified, f"salesforce record {record_id}: SystemModstamp"),
        is_converted=data.get("IsConverted") is True,
        converted_contact_id=_id_or_none(data.get("ConvertedContactId")),
        converted_account_id=_id_or_none(data.get("ConvertedAccountId")),
        converted_opportunity_id=_id_or_none(data.get("ConvertedOpportunityId")),
        is_deleted=data.get("IsDeleted") is True,
    )


def hubspot_record(raw: Any) -> HubSpotRecord:
    """Normalise one HubSpot CRM v3 contact (``basic_api.get_by_id(...).to_dict()`` or raw JSON)."""
    data = _mapping(raw, "hubspot record")
    record_id = data.get("id")
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str) or not record_id:
        raise InputError("hubspot record: 'id' is missing or not text")
    props_raw = _mapping(data.get("properties", {}), f"hubspot record {record_id}: properties")
    properties = {k: _text(v, f"hubspot record {record_id}: properties.{k}") for k, v in props_raw.items()}
    modified = data.get("updatedAt", data.get("updated_at")) or properties.get("lastmodifieddate")
    if isinstance(modified, datetime):  # the client's model objects carry datetimes
        modified = int(modified.timestamp() * 1000)
    return HubSpotRecord(
        id=record_id,
        properties=properties,
        modified_ms=parse_timestamp_ms(modified, f"hubspot record {record_id}: updatedAt"),
        archived=data.get("archived") is True,
    )


def _id_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- facts and base: JSON forms (explain files, the state store) -----------------------------------


def facts_from_json(raw: Any) -> Facts:
    data = _mapping(raw, "facts")
    known = {
        "opportunities",
        "account_is_customer",
        "account_churned",
        "completed_calls",
        "meetings",
        "converted",
        "new_record",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"facts: unknown keys {unknown} (known: {sorted(known)})")
    opportunities = []
    for i, item in enumerate(_list(data.get("opportunities"), "facts.opportunities")):
        opp = _mapping(item, f"facts.opportunities[{i}]")
        opp_id = opp.get("id", opp.get("Id"))
        if not isinstance(opp_id, str):
            raise InputError(f"facts.opportunities[{i}].id: missing or not text")
        opportunities.append(
            Opportunity(
                id=opp_id,
                stage_name=str(opp.get("stage_name", opp.get("StageName", "")) or ""),
                is_closed=_bool(
                    opp.get("is_closed", opp.get("IsClosed", False)), f"facts.opportunities[{i}].is_closed"
                ),
                is_won=_bool(opp.get("is_won", opp.get("IsWon", False)), f"facts.opportunities[{i}].is_won"),
            )
        )
    facts = Facts(
        opportunities=tuple(opportunities),
        account_is_customer=_bool(data.get("account_is_customer", False), "facts.account_is_customer"),
        account_churned=_bool(data.get("account_churned", False), "facts.account_churned"),
        completed_calls=_idset(data.get("completed_calls", []), "facts.completed_calls"),
        meetings=_idset(data.get("meetings", []), "facts.meetings"),
        converted=_bool(data.get("converted", False), "facts.converted"),
        new_record=None if data.get("new_record") is None else _bool(data["new_record"], "facts.new_record"),
    )
    return EMPTY_FACTS if facts == EMPTY_FACTS else facts


def facts_to_json(facts: Facts) -> dict[str, Any]:
    return {
        "opportunities": [
            {"id": o.id, "stage_name": o.stage_name, "is_closed": o.is_closed, "is_won": o.is_won}
            for o in facts.opportunities
        ],
        "account_is_customer": facts.account_is_customer,
        "account_churned": facts.account_churned,
        "completed_calls": sorted(facts.completed_calls),
        "meetings": sorted(facts.meetings),
        "converted": facts.converted,
        "new_record": facts.new_record,
    }


def base_to_json(base: Base) -> dict[str, Any]:
    d = base.facts
    return {
        "values": dict(sorted(base.values.items())),
        "salesforce_values": dict(sorted(base.salesforce_values.items())),
        "hubspot_values": dict(sorted(base.hubspot_values.items())),
        "facts": {
            "opportunities": [{"id": i, "state": s} for i, s in d.opportunities],
            "account_is_customer": d.account_is_customer,
            "account_churned": d.account_churned,
            "completed_calls": sorted(d.completed_calls),
            "meetings": sorted(d.meetings),
            "converted": d.converted,
        },
        "salesforce": {"object": base.salesforce_object, "id": base.salesforce_id},
        "hubspot": {"id": base.hubspot_id},
    }


def base_from_json(raw: Any) -> Base:
    data = _mapping(raw, "base")
    values_raw = _mapping(data.get("values", {}), "base.values")
    values = {str(k): _text(v, f"base.values.{k}") for k, v in values_raw.items()}
    sides = {}
    for key in ("salesforce_values", "hubspot_values"):
        side_raw = _mapping(data.get(key) or {}, f"base.{key}")  # absent: derived from values by the map
        sides[key] = {str(k): _text(v, f"base.{key}.{k}") for k, v in side_raw.items()}
    f = _mapping(data.get("facts", {}), "base.facts")
    opps = []
    for i, item in enumerate(_list(f.get("opportunities"), "base.facts.opportunities")):
        opp = _mapping(item, f"base.facts.opportunities[{i}]")
        state = opp.get("state")
        if state not in {"open", "won", "lost"} or not isinstance(opp.get("id"), str):
            raise InputError(
                f"base.facts.opportunities[{i}]: needs an 'id' and a 'state' of open, won or lost"
            )
        opps.append((opp["id"], state))
    sf = _mapping(data.get("salesforce", {}) or {}, "base.salesforce")
    hs = _mapping(data.get("hubspot", {}) or {}, "base.hubspot")
    return Base(
        values=values,
        salesforce_values=sides["salesforce_values"],
        hubspot_values=sides["hubspot_values"],
        facts=FactsDigest(
            opportunities=tuple(sorted(opps)),
            account_is_customer=_bool(f.get("account_is_customer", False), "base.facts.account_is_customer"),
            account_churned=_bool(f.get("account_churned", False), "base.facts.account_churned"),
            completed_calls=_idset(f.get("completed_calls", []), "base.facts.completed_calls"),
            meetings=_idset(f.get("meetings", []), "base.facts.meetings"),
            converted=_bool(f.get("converted", False), "base.facts.converted"),
        ),
        salesforce_object=_id_or_none(sf.get("object")),
        salesforce_id=_id_or_none(sf.get("id")),
        hubspot_id=_id_or_none(hs.get("id")),
    )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: expected true or false, got {value!r}")
    return value


def _idset(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of ids")
    return frozenset(value)


__all__ = [
    "EMPTY_DIGEST",
    "EMPTY_FACTS",
    "Base",
    "Facts",
    "FactsDigest",
    "HubSpotRecord",
    "Opportunity",
    "SalesforceRecord",
    "base_from_json",
    "base_to_json",
    "facts_from_json",
    "facts_to_json",
    "hubspot_record",
    "parse_timestamp_ms",
    "salesforce_record",
]
