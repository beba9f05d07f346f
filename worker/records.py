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
# Strict, not lenient: a value of the wrong type is refused with its key (``InputError.key``), never
# coerced. A list where a field's value belongs, read as blank, would let the other side overwrite it;
# ``"yes"`` read as false would hide a conversion.

Key = tuple[str | int, ...]

_COMPOUND_PARTS = frozenset(
    {
        *("street", "city", "state", "stateCode", "postalCode", "country", "countryCode"),
        *("latitude", "longitude", "geocodeAccuracy"),
    }
)
"""Keys of Salesforce's compound Address/Location values (REST returns them as objects)."""


def _text(value: Any, where: str, key: Key = ()) -> Value:
    """A field value from Salesforce: text, or a number or checkbox rendered as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InputError(f"{where}: expected a single value, got {_kind(value)}", key=key)


def _string(value: Any, where: str, key: Key = ()) -> str | None:
    """Text or null only (HubSpot sends every property as a string; ids and base values are text)."""
    if value is None or isinstance(value, str):
        return value
    raise InputError(f"{where}: expected text or null, got {_kind(value)} {_short(value)}", key=key)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return {bool: "true/false", int: "a number", float: "a number", str: "text"}.get(type(value), "a value")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_timestamp_ms(value: Any, where: str, key: Key = ()) -> int | None:
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
            raise InputError(f"{where}: {_short(value)} is not an ISO-8601 timestamp", key=key) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise InputError(f"{where}: expected a timestamp, got {_kind(value)}", key=key)


def _mapping(raw: Any, where: str, key: Key = ()) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        got = "null" if raw is None else _kind(raw)
        raise InputError(f"{where}: expected a JSON object, got {got}", key=key)
    return raw


def _flag(data: Mapping[str, Any], name: str, where: str) -> bool:
    """A checkbox such as ``IsConverted``: true, false, or absent/null (false)."""
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputError(f"{where}: {name}: expected true or false, got {_short(value)}", key=(name,))
    return value


def _structured(value: Mapping[str, Any]) -> bool:
    """A relationship (``attributes``), a sub-query result (``records``) or a compound address."""
    return "attributes" in value or "records" in value or (bool(value) and set(value) <= _COMPOUND_PARTS)


def salesforce_record(raw: Any, *, object_type: str | None = None) -> SalesforceRecord:
    """Normalise one Salesforce REST record (``sf.Lead.get`` / a ``query`` result row).

    ``object_type`` is for callers that know it (the adapters); a record from the REST API names it in
    ``attributes.type``."""
    data = _mapping(raw, "salesforce record")
    attributes = data.get("attributes")
    kind = object_type
    if kind is None and isinstance(attributes, Mapping):
        kind = attributes.get("type")
    if not isinstance(kind, str) or kind not in {"Lead", "Contact"}:
        raise InputError(
            f"salesforce record: attributes.type must be 'Lead' or 'Contact' (got {_short(kind)}); a record "
            'as the REST API returns it carries it: "attributes": {"type": "Lead"}',
            key=("attributes", "type") if isinstance(attributes, Mapping) else ("attributes",),
        )
    record_id = data.get("Id")
    if not isinstance(record_id, str) or not record_id:
        raise InputError("salesforce record: 'Id' is missing or not text", key=("Id",))
    where = f"salesforce record {record_id}"
    values: dict[str, Value] = {}
    for key, value in data.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping) and _structured(value):
            continue  # relationship sub-objects are facts, compound addresses are not synced
        values[key] = _text(value, f"{where}: {key}", (key,))
    modified_key = "SystemModstamp" if "SystemModstamp" in data else "LastModifiedDate"
    return SalesforceRecord(
        object_type=kind,
        id=record_id,
        values=values,
        modified_ms=parse_timestamp_ms(data.get(modified_key), f"{where}: {modified_key}", (modified_key,)),
        is_converted=_flag(data, "IsConverted", where),
        converted_contact_id=_id_field(data, "ConvertedContactId", where),
        converted_account_id=_id_field(data, "ConvertedAccountId", where),
        converted_opportunity_id=_id_field(data, "ConvertedOpportunityId", where),
        is_deleted=_flag(data, "IsDeleted", where),
    )


def hubspot_record(raw: Any) -> HubSpotRecord:
    """Normalise one HubSpot CRM v3 contact (``basic_api.get_by_id(...).to_dict()`` or raw JSON)."""
    data = _mapping(raw, "hubspot record")
    record_id = data.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise InputError(
            "hubspot record: 'id' is missing or not text (HubSpot sends ids as text)", key=("id",)
        )
    where = f"hubspot record {record_id}"
    props_raw = _mapping(data.get("properties", {}), f"{where}: properties", ("properties",))
    properties = {k: _string(v, f"{where}: properties.{k}", ("properties", k)) for k, v in props_raw.items()}
    modified_key = "updatedAt" if "updatedAt" in data else "updated_at"
    modified: Any = data.get(modified_key)
    if isinstance(modified, datetime):  # the client's model objects carry datetimes
        modified = int(modified.timestamp() * 1000)
    if modified is None:
        modified_key, modified = "lastmodifieddate", properties.get("lastmodifieddate")
    archived = data.get("archived")
    if archived is not None and not isinstance(archived, bool):
        raise InputError(
            f"{where}: archived: expected true or false, got {_short(archived)}", key=("archived",)
        )
    return HubSpotRecord(
        id=record_id,
        properties=properties,
        modified_ms=parse_timestamp_ms(modified, f"{where}: {modified_key}", (modified_key,)),
        archived=archived is True,
    )


def _id_field(data: Mapping[str, Any], name: str, where: str, prefix: Key = ()) -> str | None:
    return _string(data.get(name), f"{where}: {name}", (*prefix, name)) or None


# --- facts and base: JSON forms (explain files, the state store) -----------------------------------

_FACT_KEYS = frozenset(
    {
        *("opportunities", "account_is_customer", "account_churned", "completed_calls", "meetings"),
        *("converted", "new_record"),
    }
)


def facts_from_json(raw: Any) -> Facts:
    data = _mapping(raw, "facts")
    unknown = sorted(set(data) - _FACT_KEYS)
    if unknown:
        raise InputError(f"facts: unknown keys {unknown} (known: {sorted(_FACT_KEYS)})", key=(unknown[0],))
    opportunities = []
    for i, item in enumerate(_list(data.get("opportunities"), "facts.opportunities", ("opportunities",))):
        key: Key = ("opportunities", i)
        where = f"facts.opportunities[{i}]"
        opp = _mapping(item, where, key)

        opp_id, id_key = _either(opp, key, "id", "Id", None)
        if not isinstance(opp_id, str) or not opp_id:
            raise InputError(f"{where}.id: missing or not text", key=id_key)
        stage, stage_key = _either(opp, key, "stage_name", "StageName", None)
        closed, closed_key = _either(opp, key, "is_closed", "IsClosed", False)
        won, won_key = _either(opp, key, "is_won", "IsWon", False)
        opportunities.append(
            Opportunity(
                id=opp_id,
                stage_name=_string(stage, f"{where}.stage_name", stage_key) or "",
                is_closed=_bool(closed, f"{where}.is_closed", closed_key),
                is_won=_bool(won, f"{where}.is_won", won_key),
            )
        )
    facts = Facts(
        opportunities=tuple(opportunities),
        **{name: _bool(data.get(name, False), f"facts.{name}", (name,)) for name in _FACT_FLAGS},
        completed_calls=_idset(data.get("completed_calls"), "facts.completed_calls", ("completed_calls",)),
        meetings=_idset(data.get("meetings"), "facts.meetings", ("meetings",)),
        # Optional: absent or null lets the planner derive it (a person met for the first time is new).
        new_record=None
        if data.get("new_record") is None
        else _bool(data["new_record"], "facts.new_record", ("new_record",)),
    )
    return EMPTY_FACTS if facts == EMPTY_FACTS else facts


_FACT_FLAGS = ("account_is_customer", "account_churned", "converted")


def _either(data: Mapping[str, Any], key: Key, snake: str, camel: str, default: Any) -> tuple[Any, Key]:
    """An opportunity field in our form (``is_won``) or Salesforce's (``IsWon``), and its key path."""
    name = snake if snake in data else camel
    return data.get(name, default), (*key, name)


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
    sides: dict[str, dict[str, Value]] = {}
    for name in ("values", "salesforce_values", "hubspot_values"):  # sides absent: derived by the map
        side = _mapping(data.get(name) or {}, f"base.{name}", (name,))
        sides[name] = {str(k): _string(v, f"base.{name}.{k}", (name, k)) for k, v in side.items()}
    f = _mapping(data.get("facts") or {}, "base.facts", ("facts",))
    opps = []
    for i, item in enumerate(
        _list(f.get("opportunities"), "base.facts.opportunities", ("facts", "opportunities"))
    ):
        key: Key = ("facts", "opportunities", i)
        opp = _mapping(item, f"base.facts.opportunities[{i}]", key)
        state = opp.get("state")
        if state not in {"open", "won", "lost"} or not isinstance(opp.get("id"), str):
            raise InputError(
                f"base.facts.opportunities[{i}]: needs an 'id' and a 'state' of open, won or lost", key=key
            )
        opps.append((opp["id"], state))
    sf = _mapping(data.get("salesforce") or {}, "base.salesforce", ("salesforce",))
    hs = _mapping(data.get("hubspot") or {}, "base.hubspot", ("hubspot",))
    flags = {
        name: _bool(f.get(name, False), f"base.facts.{name}", ("facts", name))
        for name in ("account_is_customer", "account_churned", "converted")
    }
    return Base(
        values=sides["values"],
        salesforce_values=sides["salesforce_values"],
        hubspot_values=sides["hubspot_values"],
        facts=FactsDigest(
            opportunities=tuple(sorted(opps)),
            completed_calls=_idset(
                f.get("completed_calls"), "base.facts.completed_calls", ("facts", "completed_calls")
            ),
            meetings=_idset(f.get("meetings"), "base.facts.meetings", ("facts", "meetings")),
            **flags,
        ),
        salesforce_object=_id_field(sf, "object", "base.salesforce", ("salesforce",)),
        salesforce_id=_id_field(sf, "id", "base.salesforce", ("salesforce",)),
        hubspot_id=_id_field(hs, "id", "base.hubspot", ("hubspot",)),
    )


def _list(value: Any, where: str, key: Key) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {_kind(value)}", key=key)
    return value


def _bool(value: Any, where: str, key: Key) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: expected true or false, got {_short(value)}", key=key)
    return value


def _idset(value: Any, where: str, key: Key) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: expected a list of ids (text)", key=key)
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
