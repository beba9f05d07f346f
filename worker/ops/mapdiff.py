"""``crmsync mappings diff OLD NEW [--live]``: what deploying NEW instead of OLD would do to the people
already synced, before it ships. Nothing is written: no CRM write, no base, link, audit entry or
dead letter (``--live`` makes read calls, which the shared rate limiter and API-usage reading count).

Every person with a stored base is a *subject*: their Salesforce and HubSpot records and facts — by
default rebuilt from the base (the values each side held after the last sync, by map field id, and
the facts it remembers); with ``--live`` read from both CRMs through the adapters, in batches. Each
subject is planned with both maps (the planner is pure), twice:

- **as met for the first time** (no base; facts are state, ``new_record`` false): what each map makes
  of the person's values and facts — so every rule their stage, status and facts trigger runs. A
  person *moves* when NEW arrives at another stage or status than OLD (``old → new`` by id); a rule
  counts for a person when only one map applies it, or both do and the person moves;
- **as the next sync** (with the stored base): the writes NEW's next sync of the person would make
  that OLD's would not (``side field 'was' → 'now'``): a canonical value keeps its id across maps, so
  a value renamed or swapped in NEW is rewritten in the CRM, not re-read.

Values NEW does not know are counted per side and value (the sync skips them, ``Skip.unknown_value``).
Rules that react to news — calls, meetings, lost deals — fire only when such news arrives, so they
are not estimated here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from worker import records
from worker.crm.salesforce import queries as sf_queries
from worker.mapping import CompiledMap
from worker.ops.context import record_key
from worker.plan import plan
from worker.plan.model import Plan
from worker.records import Base, Facts, HubSpotRecord, Opportunity, SalesforceRecord
from worker.state.links import Person
from worker.state.ops import based_people
from worker.state.store import State
from worker.sync.facts import salesforce_facts
from worker.sync.service import HS_SYSTEM, LEAD_SYSTEM, SF_SYSTEM

SAMPLES = 3
BATCH = 200


@dataclass(frozen=True)
class Subject:
    """One person as each map would read them: records per map (a map may name other fields), facts."""

    person: str
    base: Base
    facts: Facts
    records: Mapping[str, tuple[SalesforceRecord | None, HubSpotRecord | None]]  # "old" / "new"


@dataclass
class MapDiff:
    source: str = "stored"
    people: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, kind: str, what: str, person: str) -> None:
        self.counts[kind][what] += 1
        sample = self.samples[f"{kind}:{what}"]
        if len(sample) < SAMPLES and person not in sample:
            sample.append(person)

    def listing(self, kind: str) -> list[dict[str, Any]]:
        return [
            {"change": what, "people": n, "sample": self.samples[f"{kind}:{what}"]}
            for what, n in sorted(self.counts.get(kind, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "people": self.people,
            "stage": self.listing("stage"),
            "status": self.listing("status"),
            "rules": self.listing("rule"),
            "writes": self.listing("write"),
            "unknown_values": {side: self.listing(side) for side in ("salesforce", "hubspot")},
        }

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())


def diff(
    subjects: Iterable[Subject], old: CompiledMap, new: CompiledMap, *, source: str = "stored"
) -> MapDiff:
    out = MapDiff(source)
    for s in subjects:
        out.people += 1
        _unknown_values(out, s, new)
        facts = replace(s.facts, new_record=False)
        fresh = {name: _plan(s, name, cmap, None, facts) for name, cmap in (("old", old), ("new", new))}
        moved = False
        for fid in ("stage", "status"):
            was, now = fresh["old"].values.get(fid), fresh["new"].values.get(fid)
            if was != now:
                moved = True
                out.note(fid, f"{was or '—'} → {now or '—'}", s.person)
        was_rules, now_rules = set(fresh["old"].rules_applied), set(fresh["new"].rules_applied)
        for rule in sorted(now_rules - was_rules):
            out.note("rule", f"{rule}: applies", s.person)
        for rule in sorted(was_rules - now_rules):
            out.note("rule", f"{rule}: no longer applies", s.person)
        if moved:
            for rule in sorted(now_rules & was_rules):
                out.note("rule", f"{rule}: applies, to another result", s.person)
        written = {
            name: _writes(_plan(s, name, cmap, s.base, s.facts))
            for name, cmap in (("old", old), ("new", new))
        }
        current = _current(s)
        for key, value in sorted(written["new"].items()):
            if written["old"].get(key, current.get(key)) != value:
                side, name = key
                was = written["old"].get(key, current.get(key))
                out.note("write", f"{side} {name} {was!r} → {value!r}", s.person)
    return out


def _plan(s: Subject, name: str, cmap: CompiledMap, base: Base | None, facts: Facts) -> Plan:
    sf, hs = s.records[name]
    return plan(sf, hs, base, facts, cmap)


def _writes(p: Plan) -> dict[tuple[str, str], str | None]:
    """(side, CRM field) → the value the plan leaves there (the last step of a clear-then-set)."""
    out: dict[tuple[str, str], str | None] = {}
    for w in sorted((*p.salesforce, *p.hubspot), key=lambda w: w.step):
        for c in w.changes:
            out[(w.side, c.field)] = c.value
    return out


def _current(s: Subject) -> dict[tuple[str, str], str | None]:
    sf, hs = s.records["new"]
    out: dict[tuple[str, str], str | None] = {}
    if sf is not None:
        out.update((("salesforce", k), v) for k, v in sf.values.items())
    if hs is not None:
        out.update((("hubspot", k), v) for k, v in hs.properties.items())
    return out


def _unknown_values(out: MapDiff, s: Subject, new: CompiledMap) -> None:
    sf, hs = s.records["new"]
    for f in (new.stage_field, new.status_field):
        sides: tuple[tuple[str, str | None, Mapping[str, str]], ...] = (
            ("salesforce", sf.get(f.salesforce) if sf and f.salesforce else None, f.sf_to_canon or {}),
            ("hubspot", hs.get(f.hubspot) if hs and f.hubspot else None, f.hs_to_canon or {}),
        )
        for side, value, known in sides:
            if value not in (None, "") and str(value) not in known:
                out.note(side, f"{f.id} {value!r}", s.person)


# --- subjects: from the stored bases, or read live from both CRMs ---------------------------------


def stored_subjects(state: State, old: CompiledMap, new: CompiledMap) -> Iterator[Subject]:
    """Each based person as the base left them: each side's values under each map's field names."""
    for people in based_people(state.redis):
        bases = state.bases.get_many(people)
        linked = state.links.people(list(bases))
        for pid, base in sorted(bases.items()):
            who = linked.get(pid, Person(pid))
            pair = {name: _from_base(base, who, cmap) for name, cmap in (("old", old), ("new", new))}
            if pair["new"] == (None, None):
                continue
            yield Subject(pid, base, _facts_from_digest(base), pair)


def _from_base(
    base: Base, who: Person, cmap: CompiledMap
) -> tuple[SalesforceRecord | None, HubSpotRecord | None]:
    sf_key = record_key(who.salesforce)
    hs_key = record_key(who.hubspot)
    sf = hs = None
    if base.salesforce_values or base.salesforce_id:
        obj = base.salesforce_object or (sf_key.object_type if sf_key else "Lead")
        rid = base.salesforce_id or (sf_key.id if sf_key else "")
        values = {
            f.salesforce: base.salesforce_values.get(f.id)
            for f in cmap.fields
            if f.salesforce and obj in f.salesforce_objects
        }
        sf = SalesforceRecord(obj, rid, values)
    if base.hubspot_values or base.hubspot_id:
        rid = base.hubspot_id or (hs_key.id if hs_key else "")
        hs = HubSpotRecord(rid, {f.hubspot: base.hubspot_values.get(f.id) for f in cmap.fields if f.hubspot})
    return sf, hs


def _facts_from_digest(base: Base) -> Facts:
    d = base.facts
    return Facts(
        opportunities=tuple(
            Opportunity(oid, "", state != "open", state == "won") for oid, state in d.opportunities
        ),
        account_is_customer=d.account_is_customer,
        account_churned=d.account_churned,
        completed_calls=d.completed_calls,
        meetings=d.meetings,
        converted=d.converted,
        new_record=False,
    )


def live_subjects(
    state: State, salesforce: Any, hubspot: Any, old: CompiledMap, new: CompiledMap, *, batch: int = BATCH
) -> Iterator[Subject]:
    """Each based person's current records and facts, read through the adapters ``batch`` people at a
    time (one query per object per chunk of ids, one HubSpot batch read per 100)."""
    maps = (old, new)
    for people in based_people(state.redis, batch):
        bases = state.bases.get_many(people)
        linked = state.links.people(list(bases))
        sf_rows: dict[str, Mapping[str, Any]] = {}
        for obj in ("Lead", "Contact"):
            ids = [k.id for p in linked.values() if (k := record_key(p.salesforce)) and k.object_type == obj]
            if ids:
                report = salesforce.fetch(obj, ids, _salesforce_columns(maps, obj, salesforce.calls_subquery))
                sf_rows.update(report.records)
        hs_ids = [k.id for p in linked.values() if (k := record_key(p.hubspot))]
        hs_rows = hubspot.fetch("contacts", hs_ids, _hubspot_properties(maps)).records if hs_ids else {}
        for pid, base in sorted(bases.items()):
            who = linked.get(pid, Person(pid))
            sf_key, hs_key = record_key(who.salesforce), record_key(who.hubspot)
            sf_row = sf_rows.get(sf_key.id) if sf_key else None
            hs_row = hs_rows.get(hs_key.id) if hs_key else None
            if sf_row is None and hs_row is None:
                continue  # both records gone: the sync would skip the person too
            sf = records.salesforce_record(sf_row) if sf_row is not None else None
            hs = records.hubspot_record(hs_row) if hs_row is not None else None
            facts = (
                salesforce_facts(sf_row, new_record=False) if sf_row is not None else Facts(new_record=False)
            )
            yield Subject(pid, base, facts, {"old": (sf, hs), "new": (sf, hs)})


def _salesforce_columns(maps: Sequence[CompiledMap], obj: str, calls: str) -> list[str]:
    names = {f.salesforce for m in maps for f in m.fields if f.salesforce and obj in f.salesforce_objects}
    names |= (
        {m.link_sf_hubspot_id for m in maps} | set(SF_SYSTEM) | (set(LEAD_SYSTEM) if obj == "Lead" else set())
    )
    return [*sorted(names), *sf_queries.facts_columns(obj, calls)]


def _hubspot_properties(maps: Sequence[CompiledMap]) -> list[str]:
    names = {f.hubspot for m in maps for f in m.fields if f.hubspot}
    names |= {p for m in maps for p in (m.link_hs_lead_id, m.link_hs_contact_id)} | set(HS_SYSTEM)
    return sorted(names)
