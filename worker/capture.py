"""Change capture by polling: what changed in each CRM since its cursor becomes person keys in the dirty set.

Polling is the safety net under the webhooks: it sees every change, a little later. Each reader walks
its CRM's change feed page by page through the adapters' own readers (compound cursors, lookback for
late commits, the search-index lag margin) and, per page, first records the affected people in the
dirty set and only then saves the cursor: a worker killed between the two re-reads the page
(harmless: the dirty set is a set) and never skips it.

What counts as a change to a person:
- Salesforce: Leads and Contacts themselves (a converted lead also marks its Contact); Opportunities
  (their contact roles' Contacts and the Lead converted into them), completed Tasks and Events (their
  ``WhoId``) and Accounts (their Contacts), because those fire the automation rules; deletions from
  ``sobjects/X/deleted`` (whole minutes only; a merge's losers come this way, its survivor as a change).
- HubSpot: contacts (a merge survivor also marks the ids merged into it) and deals (their associated
  contacts). Given ``HubSpotEchoes``, a contact whose polled row holds nothing its person's base does
  not know (``worker.sync.echo.hubspot_unchanged``: every synced property, the link property, no merge;
  the search asks for those properties, so the row carries them at no extra call) is the echo of the
  worker's own write and is not queued; any doubt queues it. Salesforce rows are always queued: a Lead
  or Contact row carries none of the related facts (opportunities, completed calls, meetings, account)
  the echo check needs, so it cannot prove there is no new fact.
A CRM whose quota is exhausted raises ``QuotaExhaustedError`` out of ``poll``; the task pauses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.crm.hubspot.adapter import HubSpotAdapter
from worker.crm.hubspot.cursor import Cursor
from worker.crm.salesforce import queries
from worker.crm.salesforce.adapter import SalesforceAdapter
from worker.crm.salesforce.cursor import Watermark, parse_sf_datetime
from worker.errors import InputError
from worker.mapping import CompiledMap
from worker.records import hubspot_record
from worker.state.cursors import CursorStore
from worker.state.dirty import Change, DirtySet
from worker.state.runtime import SeenChanges
from worker.state.store import State
from worker.sync.echo import hubspot_echo_properties, hubspot_unchanged
from worker.sync.keys import RecordKey

Record = dict[str, Any]
PEOPLE = ("Lead", "Contact")
RELATED = ("Opportunity", "Task", "Event", "Account")
_RELATED_FIELDS = {"Opportunity": ["AccountId"], "Task": ["WhoId"], "Event": ["WhoId"], "Account": []}
_PERSON_FIELDS = {"Lead": ["IsConverted", "ConvertedContactId"], "Contact": []}
LEAD_PREFIX, CONTACT_PREFIX = "00Q", "003"
LOOKBACK_SLACK_S = 60  # versions are remembered a little longer than the lookback re-reads them
OPEN_SECOND = dt.timedelta(seconds=2)  # SystemModstamp has whole seconds; plus a little clock skew


@dataclass
class PollReport:
    """What one poll saw: changed records per object, and person keys it marked dirty."""

    crm: str
    seen: dict[str, int] = field(default_factory=dict)
    marked: int = 0
    pages: int = 0
    echoes: int = 0  # rows not queued: the echoes of the worker's own writes

    def count(self, object_type: str, n: int) -> None:
        self.seen[object_type] = self.seen.get(object_type, 0) + n


def _mark(dirty: DirtySet, changes: Iterable[Change]) -> int:
    """Add person keys to the dirty set (a set: re-adding a key already waiting costs nothing)."""
    by_type: dict[str, list[str]] = {}
    for c in changes:
        by_type.setdefault(c.object_type, []).append(c.object_id)
    for object_type, ids in by_type.items():
        dirty.add(object_type, ids)
    return sum(len(v) for v in by_type.values())


def _ms(modstamp: str) -> int:
    return int(parse_sf_datetime(modstamp).timestamp() * 1000)


def _person_of(record_id: str | None) -> Change | None:
    if not record_id:
        return None
    if record_id.startswith(LEAD_PREFIX):
        return Change("Lead", record_id)
    if record_id.startswith(CONTACT_PREFIX):
        return Change("Contact", record_id)
    return None


class SalesforceCapture:
    """Polls one org. Cursors (``CursorStore``, crm ``salesforce``): ``{Object}`` (a ``Watermark``) and
    ``{Object}:deleted`` (``{"latest_covered": …}`` of the last deleted read)."""

    def __init__(
        self,
        adapter: SalesforceAdapter,
        cursors: CursorStore,
        dirty: DirtySet,
        *,
        now: Callable[[], dt.datetime] | None = None,
        related: Sequence[str] = RELATED,
    ) -> None:
        """``now``: Salesforce's clock (default: the adapter's ``server_now``, from its answers' ``Date``),
        which first cursors and the still-open second are measured on, like ``SystemModstamp``."""
        self.sf = adapter
        self.cursors = cursors
        self.dirty = dirty
        self.now = now or adapter.server_now
        self.related = related

    def poll(self) -> PollReport:
        report = PollReport("salesforce")
        for object_type in PEOPLE:
            self._changes(object_type, _PERSON_FIELDS[object_type], self._people_changes, report)
        for object_type in self.related:
            self._changes(object_type, _RELATED_FIELDS[object_type], self._related_changes, report)
        for object_type in PEOPLE:
            self._deleted(object_type, report)
        return report

    def _mark_of(self, name: str) -> Watermark:
        doc = self.cursors.get("salesforce", name)
        if doc is None:
            # A first poll starts now (older history is a backfill's job; the lookback still covers a
            # little before it), and says so durably, so the next poll continues from here.
            mark = Watermark(self.now().replace(microsecond=0))
            self.cursors.put("salesforce", name, mark.to_json())
            return mark
        return Watermark.from_json(doc)

    def _changes(
        self,
        object_type: str,
        fields: list[str],
        to_people: Callable[[str, list[Record]], list[Change]],
        report: PollReport,
    ) -> None:
        name = object_type
        mark = self._mark_of(name)
        seen = SeenChanges(self.cursors.redis, "salesforce", object_type)
        horizon = dt.timedelta(seconds=self.sf.settings.lookback_seconds + LOOKBACK_SLACK_S)
        for page in self.sf.changes(object_type, mark, fields, allow_bulk=True):
            report.pages += 1
            versions = {(_ms(r["SystemModstamp"]), str(r["Id"])): r for r in page.records}
            fresh = seen.unseen(list(versions))  # the lookback re-reads versions queued by earlier polls
            report.count(object_type, len(fresh))
            if fresh:
                report.marked += _mark(self.dirty, to_people(object_type, [versions[v] for v in fresh]))
            forget = int((page.watermark.modstamp - horizon).timestamp() * 1000)
            # A version in a second that may still be open is not remembered: a second edit within the
            # same second carries the same SystemModstamp and must not look already queued.
            closed = int((self.now() - OPEN_SECOND).timestamp() * 1000)
            seen.remember([v for v in fresh if v[0] < closed], forget_before_ms=forget)
            if page.watermark != mark:
                self.cursors.put("salesforce", name, page.watermark.to_json())
                mark = page.watermark

    @staticmethod
    def _people_changes(object_type: str, records: list[Record]) -> list[Change]:
        out = [Change(object_type, r["Id"]) for r in records]
        out += [
            Change("Contact", r["ConvertedContactId"])
            for r in records
            if object_type == "Lead" and r.get("IsConverted") and r.get("ConvertedContactId")
        ]
        return out

    def _related_changes(self, object_type: str, records: list[Record]) -> list[Change]:
        ids = [r["Id"] for r in records]
        out: list[Change] = []
        if object_type in {"Task", "Event"}:
            out = [c for r in records if (c := _person_of(r.get("WhoId"))) is not None]
        elif object_type == "Opportunity":
            out = [
                Change("Contact", r["ContactId"])
                for r in self._query("OpportunityContactRole", ["ContactId"], "OpportunityId", ids)
            ]
            out += [
                Change("Lead", r["Id"]) for r in self._query("Lead", ["Id"], "ConvertedOpportunityId", ids)
            ]
        elif object_type == "Account":
            out = [Change("Contact", r["Id"]) for r in self._query("Contact", ["Id"], "AccountId", ids)]
        return out

    def _query(self, object_type: str, fields: list[str], column: str, ids: list[str]) -> list[Record]:
        out: list[Record] = []
        size = self.sf.settings.id_chunk_size
        for i in range(0, len(ids), size):
            soql = queries.select(fields, object_type, f"{queries.name(column)} IN {{}}", [ids[i : i + size]])
            out.extend(self.sf.query(soql))
        return out

    def _deleted(self, object_type: str, report: PollReport) -> None:
        name = f"{object_type}:deleted"
        doc = self.cursors.get("salesforce", name)
        start = parse_sf_datetime(doc["latest_covered"]) if doc else self.now()
        lookback = dt.timedelta(seconds=self.sf.settings.lookback_seconds)
        result = self.sf.deleted_since(object_type, start - lookback)
        ids = [r["id"] for r in result.records]
        report.count(f"{object_type}:deleted", len(ids))
        if ids:
            # a merge deletes the losers and updates the survivor, whose own change the poll reads
            report.marked += _mark(self.dirty, [Change(object_type, i) for i in ids])
        self.cursors.put("salesforce", name, {"latest_covered": result.latest_covered.isoformat()})


class HubSpotEchoes:
    """Which polled contacts are provably the echo of the worker's own write: the row (read with
    ``properties``) adds nothing to its person's stored base, by the same check the sync service makes
    on a fresh read (``hubspot_unchanged``), for a person linked on both sides and merged into nobody.
    Three Redis round trips per page (links, people, bases). Not for a map that takes deals as facts
    (a deal changes a person's facts without changing the contact; the service reads such a person).

    A row the search index serves is one version of the contact, values and ``lastmodifieddate``
    together: if the index is behind, the newer version comes later with a later date, or (once the
    cursor has passed it) through the lookback, as any change indexed late does. A row written back by
    a sync still storing its base, or edited since, differs from the stored base and is queued."""

    def __init__(self, state: State, cmap: CompiledMap) -> None:
        self.state = state
        self.cmap = cmap
        self.properties = hubspot_echo_properties(cmap)

    def of(self, records: list[Record]) -> set[str]:
        """The ids of ``records`` (search rows carrying ``properties``) that are echoes."""
        rows = {str(RecordKey.hubspot(str(r["id"]))): r for r in records}
        owners = self.state.links.person_of(list(rows))
        if not owners:
            return set()
        pids = sorted(set(owners.values()))
        people, bases = self.state.links.people(pids), self.state.bases.get_many(pids)
        out: set[str] = set()
        for key, pid in owners.items():
            person, base = people.get(pid), bases.get(pid)
            if (
                person is None
                or base is None
                or person.hubspot != key
                or not person.salesforce
                or person.hubspot_merged_into
                or person.salesforce_merged_into
            ):
                continue
            try:
                record = hubspot_record(rows[key])
            except InputError:
                continue  # the sync dead-letters it, naming the problem
            if hubspot_unchanged(record, base, self.cmap):
                out.add(record.id)
        return out


class HubSpotCapture:
    """Polls one portal. Cursors (crm ``hubspot``): ``contacts``, ``deals`` as ``{"cursor": <encoded>}``."""

    def __init__(
        self,
        adapter: HubSpotAdapter,
        cursors: CursorStore,
        dirty: DirtySet,
        *,
        deals: bool = True,
        echoes: HubSpotEchoes | None = None,
    ) -> None:
        self.hs = adapter
        self.cursors = cursors
        self.dirty = dirty
        self.deals = deals
        self.echoes = echoes

    def poll(self) -> PollReport:
        report = PollReport("hubspot")
        contact_props = ["lastmodifieddate", "hs_merged_object_ids"]
        if self.echoes is not None:
            contact_props += [p for p in self.echoes.properties if p not in contact_props]

        def contacts(records: list[Record]) -> list[Change]:
            if self.echoes is not None and records:
                echoes = self.echoes.of(records)
                report.echoes += len(echoes)
                records = [r for r in records if str(r["id"]) not in echoes]
            return self._contacts(records)

        self._changes("contacts", contact_props, contacts, report)
        if self.deals:
            self._changes("deals", ["hs_lastmodifieddate"], self._deal_contacts, report)
        return report

    def _changes(
        self,
        object_type: str,
        properties: list[str],
        to_people: Callable[[list[Record]], list[Change]],
        report: PollReport,
    ) -> None:
        doc = self.cursors.get("hubspot", object_type)
        if doc:
            cursor = Cursor.decode(str(doc["cursor"]))
        else:
            cursor = Cursor(int(self.hs.server_now() * 1000), 0)  # a first poll starts now, durably
            self.cursors.put("hubspot", object_type, {"cursor": cursor.encode()})
        for page in self.hs.changes_since(cursor, object_type=object_type, properties=properties):
            report.pages += 1
            report.count(object_type, len(page.records))
            if page.records:
                report.marked += _mark(self.dirty, to_people(page.records))
            if page.cursor is not None:
                self.cursors.put("hubspot", object_type, {"cursor": page.cursor.encode()})

    @staticmethod
    def _contacts(records: list[Record]) -> list[Change]:
        out = [Change("contacts", str(r["id"])) for r in records]
        for r in records:
            merged = (r.get("properties") or {}).get("hs_merged_object_ids") or ""
            out += [Change("contacts", m) for m in str(merged).split(";") if m.strip().isdigit()]
        return out

    def _deal_contacts(self, records: list[Record]) -> list[Change]:
        """The contacts associated with each changed deal (one GET per deal: v3 batch reads carry no
        associations; a deal change is rare next to contact changes)."""
        out: list[Change] = []
        for deal in records:
            deal_id = str(deal["id"])

            def op(apis: Any, deal_id: str = deal_id) -> Any:
                return apis.basic["deals"].get_by_id(deal_id, associations=["contacts"], **apis.kw)

            body = self.hs.transport.call(op).body or {}
            linked = ((body.get("associations") or {}).get("contacts") or {}).get("results") or []
            out += [Change("contacts", str(a.get("toObjectId") or a.get("id"))) for a in linked]
        return out
