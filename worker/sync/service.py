"""The sync service: every way in (a Celery task, the resync command, a backfill chunk) calls
``sync_batch(keys, run)`` / ``sync_one(key, run)``.

One batch, in order:

1. **Parse** the record keys; refuse the batch at once (``paused``) while a CRM is paused.
2. **Resolve people** through the links (``worker.state.links``).
3. **Lock** every person (its id and, while it lacks a side, its own records) in one round trip, so two
   workers never write one person; a held lock is ``busy`` and the key goes back. After the read, a
   person missing a side also locks what it may be matched with (``email:<normalised email>`` and
   the records its stored link ids name), so two workers never both link or create for one human.
4. **Read** both sides fresh, in batch calls, with the fields the active map needs and the Salesforce
   facts in the same query (``worker.sync.facts``). A HubSpot id merged away is followed to the
   survivor; a record gone is a deleted side (never recreated once synced).
5. **Link** records missing a partner: the ids written into the CRMs first (``HubSpot_Contact_ID__c``,
   ``salesforce_contact_id`` / ``salesforce_lead_id``), then the normalised email (HubSpot: a batch
   read by ``idProperty=email``; Salesforce: Contact, then unconverted Lead). A partner that already
   belongs to another person with a record on this side is a duplicate: dead-lettered, never linked
   and never answered with a second record.
6. **Plan** with ``worker.plan.plan`` (``base=None`` for a pair never synced: first sight).
7. **Write** through the port (``worker.crm.port``) in three phases across the whole batch: creates
   (Salesforce creates are upserts on the HubSpot id; HubSpot creates carry the Salesforce record key as
   their idempotency handle), then updates with the link-backs of what was just created, then HubSpot's
   guarded clear-then-set moves. Ambiguous outcomes are read back (``reconcile``) before anything else.
   A Salesforce create refused by a duplicate rule whose match is the same person by email (and
   nobody else's) links the person to the match and syncs it again as a pair; other matches are
   dead-lettered, named.
   Every write phase (and the commit) first extends the people's locks: a person whose lock expired
   mid-batch, perhaps taken by another worker, gets no further write and is retried.
8. **Commit** per person: only when every write was applied is the new base stored (fenced by the
   lock's token); every applied write goes to the audit stream with its cause; a rejected write puts
   the person in the dead letters (the rest of the batch goes on); a CRM that ran out of quota is
   paused for everyone.

Metrics and logs are counted here, once, from the adapters' outcomes: the batch takes its keys'
first-seen marks (``worker.state.dirty``) at the start, and its writes, rejections, change-to-write
latencies and the adapters' retries ride on the commit's audit pipeline (``worker.state.metrics``);
marks of people not finished are given back. Every line logged in a batch carries the run id, and
each person's outcome line its person (``worker.logs``).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from worker.crm.hubspot import HubSpotAdapter
from worker.crm.port import Outcome, Stop, StopReason, WriteOp, WriteReport, WriteResult
from worker.crm.salesforce import SalesforceAdapter
from worker.crm.salesforce import queries as sf_queries
from worker.crm.salesforce.classify import DuplicatesDetectedError
from worker.errors import CrmError, InputError
from worker.logs import bound
from worker.mapping import CompiledMap
from worker.plan import Plan, Write, plan
from worker.plan.render import plan_to_json
from worker.records import (
    Base,
    Facts,
    HubSpotRecord,
    Opportunity,
    SalesforceRecord,
    hubspot_record,
    parse_timestamp_ms,
    salesforce_record,
)
from worker.state.audit import AuditEntry
from worker.state.deadletters import DeadLetter, FailedWrite
from worker.state.dirty import SeenKey, restore_first_seen, take_first_seen
from worker.state.intents import CreateIntent
from worker.state.locks import Lease, LockBusyError
from worker.state.metrics import Tally
from worker.state.store import State
from worker.sync.echo import hubspot_unchanged, salesforce_unchanged
from worker.sync.facts import HUBSPOT_DEAL_PROPERTIES, hubspot_deal, salesforce_facts, with_deals
from worker.sync.keys import RecordKey
from worker.sync.outcome import DONE, BatchOutcome, Disposition, KeyOutcome, Run
from worker.sync.settings import SyncSettings

log = logging.getLogger(__name__)

Side = Literal["salesforce", "hubspot"]
SF: Side = "salesforce"
HS: Side = "hubspot"
Record = dict[str, Any]
SF_EMAIL = "Email"
HS_EMAIL = "email"
SF_SYSTEM = ("Id", "SystemModstamp", "CreatedDate", "Email")
LEAD_SYSTEM = ("IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedOpportunityId")
HS_SYSTEM = ("email", "createdate", "lastmodifieddate", "hs_merged_object_ids")


#: the longest address a mail path holds (RFC 5321 4.5.3.1.3: 256 octets with the angle brackets); a
#: longer value from a CRM is no email to match a person by (nor to name a lock after)
MAX_EMAIL = 254
#: Salesforce's Lead and Contact Email fields hold 80 characters (field reference): a longer address
#: cannot be there, so it is never sent in a query (where a megabyte would make the query too long)
SF_EMAIL_LENGTH = 80


def normalise_email(value: object) -> str | None:
    text = str(value or "").strip().lower()
    return text if "@" in text and len(text) <= MAX_EMAIL else None


@dataclass
class _Applied:
    side: Side
    role: str  # create | update | move_back
    op: WriteOp
    write: Write | None
    result: WriteResult
    at: float = 0.0  # when the CRM's answer came back (epoch seconds)


@dataclass
class _Marks:
    """One batch's bookkeeping for the metrics: each key's first-seen mark (taken from the dirty set's
    marks at the start), whether it is a dry run, and who has been counted."""

    of: dict[str, SeenKey]  # record key → its mark's (crm, object type, id)
    dry_run: bool = False
    seen: dict[SeenKey, int] = field(default_factory=dict)
    counted: set[int] = field(default_factory=set)  # id() of people already counted


@dataclass
class _Person:
    pid: str
    keys: list[str]
    sf_key: RecordKey | None = None
    hs_key: RecordKey | None = None
    complete: bool = False  # linked on both sides before this run
    merged_into: str | None = None  # its HubSpot contact was merged into this one, another person's
    sf_merged_into: str | None = None  # its Salesforce record was merged into this one, another person's
    email: str | None = None
    candidates: list[RecordKey] = field(default_factory=list)
    leases: list[Lease] = field(default_factory=list)
    sf: SalesforceRecord | None = None
    hs: HubSpotRecord | None = None
    sf_row: Record | None = None
    base: Base | None = None
    facts: Facts | None = None
    plan: Plan | None = None
    created: dict[Side, str] = field(default_factory=dict)
    applied: list[_Applied] = field(default_factory=list)
    disposition: Disposition | None = None
    detail: str = ""
    failed: bool = False
    adopted: bool = False  # linked to the record a duplicate rule named instead of creating one

    @property
    def fence(self) -> int:
        return next(lease.token for lease in self.leases if lease.name == self.pid)

    def settle(self, disposition: Disposition, detail: str = "") -> None:
        if self.disposition is None:
            self.disposition, self.detail = disposition, detail


class _SideStoppedError(Exception):
    def __init__(self, side: Side, stop: Stop) -> None:
        super().__init__(f"{side}: {stop}")
        self.side = side
        self.stop = stop


class SyncService:
    """See the module docstring. Thread-compatible: one instance per worker process is enough (the
    adapters share their HTTP sessions; all shared state is in Redis)."""

    def __init__(
        self,
        cmap: CompiledMap,
        salesforce: SalesforceAdapter,
        hubspot: HubSpotAdapter,
        state: State,
        settings: SyncSettings | None = None,
    ) -> None:
        self.cmap = cmap
        self.sf = salesforce
        self.hs = hubspot
        self.state = state
        self.settings = settings or SyncSettings()
        link = cmap.link_sf_hubspot_id
        self.sf_fields = {
            obj: sorted(
                {f.salesforce for f in cmap.synced_fields if f.salesforce and obj in f.salesforce_objects}
                | {link, *SF_SYSTEM, *(LEAD_SYSTEM if obj == "Lead" else ())}
            )
            for obj in ("Lead", "Contact")
        }
        self.field_ids: dict[tuple[Side, str], str] = {}
        for f in cmap.fields:
            if f.salesforce:
                self.field_ids[(SF, f.salesforce)] = f.id
            if f.hubspot:
                self.field_ids[(HS, f.hubspot)] = f.id
        self.hs_props = sorted(
            {f.hubspot for f in cmap.synced_fields if f.hubspot}
            | {
                cmap.link_hs_lead_id,
                cmap.link_hs_contact_id,
                hubspot.settings.create_key_property,
                *HS_SYSTEM,
            }
        )

    # ------------------------------------------------------------------ entry points
    def sync_one(self, key: str, run: Run, *, dry_run: bool = False) -> KeyOutcome:
        return self.sync_batch([key], run, dry_run=dry_run).keys[key]

    def sync_batch(self, keys: Sequence[str], run: Run, *, dry_run: bool = False) -> BatchOutcome:
        """``dry_run``: everything up to the plan (locks, reads, linking), then ``planned``: no write,
        no base, no audit, no dead letter, and the links it finds stay in memory (the resync command's
        and a backfill's ``--dry-run`` record nothing about anyone). Every line logged meanwhile
        carries ``run.id`` (``worker.logs``)."""
        with bound(run_id=run.id):
            if dry_run:
                drafting = copy.copy(self)
                drafting.state = self.state.drafting()
                return drafting._sync_batch(keys, run, dry_run=True)
            return self._sync_batch(keys, run, dry_run=False)

    def _sync_batch(self, keys: Sequence[str], run: Run, *, dry_run: bool) -> BatchOutcome:
        out = BatchOutcome(run)
        calls_before = self._calls()
        parsed: dict[str, RecordKey] = {}
        for raw in dict.fromkeys(keys):
            try:
                parsed[raw] = RecordKey.parse(raw)
            except InputError as exc:
                out.add(KeyOutcome(raw, Disposition.INVALID, detail=str(exc)))
        paused = self.state.pauses.paused_many((SF, HS))  # one round trip (the marks below take another)
        if paused:
            detail = "; ".join(f"{crm} paused: {why}" for crm, why in paused.items())
            for raw in parsed:
                out.add(KeyOutcome(raw, Disposition.PAUSED, detail=detail))
            return out
        marks = _Marks({raw: (k.side, k.object_type, k.id) for raw, k in parsed.items()}, dry_run)
        marks.seen = take_first_seen(self.state.redis, list(marks.of.values()))
        people: list[_Person] = []
        try:
            people = self._people(parsed)
            self._lock(people)
            active = [p for p in people if p.disposition is None]
            self._read(active, run, dry_run=dry_run)
            active = [p for p in active if p.disposition is None]
            self._plan(active)
            if dry_run:
                for p in active:
                    if p.plan is not None:
                        p.settle(Disposition.PLANNED, f"{len(p.plan.writes)} write(s) planned")
                active = []
            out.paused.update(
                self._execute([p for p in active if p.disposition is None and p.plan is not None], run)
            )
            self._commit([p for p in active if p.disposition is None], run, marks)
        except _SideStoppedError as stopped:
            out.paused[stopped.side] = stopped.stop
            for p in people:
                p.settle(self._stop_disposition(stopped.stop), f"{stopped.side} stopped: {stopped.stop}")
        except BaseException:
            with contextlib.suppress(Exception):  # what happened is counted, the marks given back
                self._count(people, marks)
            raise
        finally:
            self.state.locks.release_all([lease for p in people for lease in p.leases])
        for p in people:
            p.settle(Disposition.SKIPPED, "nothing to sync")
        self._count(people, marks)
        for p in people:
            self._log_outcome(p, run)
            writes = sum(1 for a in p.applied if a.result.ok)
            for raw in p.keys:
                out.add(KeyOutcome(raw, p.disposition or Disposition.RETRY, p.pid, writes, p.detail, p.plan))
        out.api_calls = {side: after - calls_before[side] for side, after in self._calls().items()}

        adopted = [raw for p in people if p.adopted and p.disposition is Disposition.RETRY for raw in p.keys]
        if adopted:  # now linked on both sides: the second pass cannot adopt again
            again = self.sync_batch(adopted, run)
            out.paused.update(again.paused)
            for raw in adopted:
                out.add(again.keys[raw])
            out.api_calls = {side: n + again.api_calls.get(side, 0) for side, n in out.api_calls.items()}
        return out

    def give_up(self, keys: Sequence[str], run: Run, detail: str) -> None:
        """Dead-letter keys whose transient failures outlasted the task layer's attempts."""
        parsed = []
        for raw in keys:
            try:
                parsed.append(RecordKey.parse(raw))
            except InputError:
                continue
        owners = self.state.links.person_of([str(k) for k in parsed])
        for key in parsed:
            pid = owners.get(str(key), str(key))
            self.state.dead.put(
                DeadLetter(
                    pid,
                    "retries_exhausted",
                    run_id=run.id,
                    run_kind=run.kind,
                    detail=detail[:500],
                    record_keys=(str(key),),
                )
            )

    # ------------------------------------------------------------------ 2. people
    def _people(self, parsed: Mapping[str, RecordKey]) -> list[_Person]:
        owners = self.state.links.person_of(list(parsed))
        known = self.state.links.people(sorted(set(owners.values())))
        by_pid: dict[str, _Person] = {}
        loose: list[_Person] = []
        for raw, key in parsed.items():
            pid = owners.get(raw)
            person = known.get(pid) if pid is not None else None
            if pid is not None and person is not None:
                p = by_pid.get(pid)
                if p is None:
                    p = by_pid[pid] = _Person(
                        pid,
                        [],
                        RecordKey.parse(person.salesforce) if person.salesforce else None,
                        RecordKey.parse(person.hubspot) if person.hubspot else None,
                        merged_into=person.hubspot_merged_into,
                        sf_merged_into=person.salesforce_merged_into,
                    )
                    p.complete = p.sf_key is not None and p.hs_key is not None
                p.keys.append(raw)
            elif str(key) in by_pid:  # an unlinked record whose own key names a person in this batch
                by_pid[str(key)].keys.append(raw)
            else:
                loose.append(
                    _Person(
                        str(key),
                        [raw],
                        key if key.crm == "sf" else None,
                        key if key.crm == "hs" else None,
                    )
                )
        return [*by_pid.values(), *loose]

    # ------------------------------------------------------------------ 3. locks
    def _lock(self, people: list[_Person]) -> None:
        """All the batch's people in one round trip (each person's id and, while it lacks a side, its own
        records); with ``lock_wait_s`` the busy ones are waited for."""
        groups: list[list[str]] = []
        for p in people:
            names = {p.pid}
            if not p.complete:  # its own records too: nobody else may link them meanwhile
                names.update(str(k) for k in (p.sf_key, p.hs_key) if k is not None)
            groups.append(sorted(names))
        got = self.state.locks.try_acquire_groups(groups)
        for p, group, leases in zip(people, groups, got, strict=True):
            if leases is not None:
                p.leases = leases
                continue
            try:
                if self.settings.lock_wait_s <= 0:
                    raise LockBusyError(f"a lock of {p.pid} is held by another worker")
                p.leases = self.state.locks.acquire_all(group, wait_s=self.settings.lock_wait_s)
            except LockBusyError as exc:
                p.settle(Disposition.BUSY, str(exc))

    # ------------------------------------------------------------------ 4-5. read and link
    def _read(self, people: list[_Person], run: Run, *, dry_run: bool = False) -> None:
        loose = [p for p in people if not p.complete]
        if loose:  # someone may have linked these between our link lookup and our lock
            owners = self.state.links.person_of([str(k) for p in loose for k in (p.sf_key, p.hs_key) if k])
            for p in loose:
                for k in (p.sf_key, p.hs_key):
                    if k is not None and owners.get(str(k), p.pid) != p.pid:
                        p.settle(Disposition.BUSY, f"{k} was linked to {owners[str(k)]} meanwhile")
        live = [p for p in people if p.disposition is None]
        # the daemon's keys are change signals of their own side; any other run (a resync, a backfill,
        # a rollback) asks for the whole person, whichever record names it
        sides = {RecordKey.parse(raw).crm for p in live for raw in p.keys} if run.kind == "live" else set()
        if sides == {"hs"}:
            self._read_hubspot(live)
            self._settle_echoes(live, HS)
            self._read_salesforce([p for p in live if p.disposition is None])
        else:
            self._read_salesforce(live)
            if sides == {"sf"}:
                self._settle_echoes(live, SF)
            self._read_hubspot([p for p in live if p.disposition is None])
        live = [p for p in live if p.disposition is None]
        merged = [p for p in live if p.merged_into is not None or p.sf_merged_into is not None]
        self._merged(merged, dry_run=dry_run)
        live = [p for p in live if p.disposition is None]
        self._lock_matching([p for p in live if p.disposition is None and (p.sf is None or p.hs is None)])
        self._match([p for p in live if p.disposition is None and (p.sf is None or p.hs is None)])
        for p in loose:
            if p.disposition is None:  # matched or not, the person's own record belongs to it now
                own = p.sf_key or p.hs_key
                if own is not None and self.state.links.link(p.pid, own.side, str(own)) != p.pid:
                    p.settle(Disposition.BUSY, f"{own} was linked meanwhile")
        live = [p for p in live if p.disposition is None]
        bases = self.state.bases.get_many([p.pid for p in live])
        now_ms = int(time.time() * 1000)
        deals = self._deals(live) if self.settings.hubspot_deal_facts else {}
        for p in live:
            p.base = bases.get(p.pid)
            p.facts = with_deals(self._facts(p, now_ms, run), deals.get(p.pid, ()))
        self._converted_contacts([p for p in live if p.base is None and p.facts is not None])

    def _settle_echoes(self, people: list[_Person], side: Side) -> None:
        """A live batch (the daemon's: its keys are change signals) whose keys all name ``side`` read that
        side first: a person linked on both sides whose record there holds nothing its base does not
        know (``worker.sync.echo``: the echo of our own write) is in agreement without a read of the
        other side, which changes only with a signal of its own. Saves that read for a batch of
        echoes; any other person is read and planned as ever."""
        known = [p for p in people if p.disposition is None and p.complete]
        bases = self.state.bases.get_many([p.pid for p in known]) if known else {}
        for p in known:
            base = bases.get(p.pid)
            if base is None:
                continue
            if side == SF:
                unchanged = (
                    p.sf is not None
                    and p.sf_row is not None
                    and salesforce_unchanged(p.sf, self._salesforce_facts(p.sf_row, None), base, self.cmap)
                )
            else:
                unchanged = (
                    p.hs is not None
                    and not self.settings.hubspot_deal_facts
                    and hubspot_unchanged(p.hs, base, self.cmap)
                )
            if unchanged:
                other = "HubSpot" if side == SF else "Salesforce"
                p.settle(
                    Disposition.SYNCED,
                    f"in agreement: {side} unchanged since the last sync (an echo); {other} not read",
                )

    def _converted_contacts(self, people: list[_Person]) -> None:
        """A Contact met for the first time that a Lead was converted into carries the conversion
        (a contact row has no conversion columns; the lead's ``ConvertedContactId`` names it), so the
        map's conversion rule applies as if the lead had been synced first. One query per 200."""
        contacts = {
            p.sf_key.id: p for p in people if p.sf_key is not None and p.sf_key.object_type == "Contact"
        }
        ids = sorted(contacts)
        for start in range(0, len(ids), 200):
            soql = sf_queries.select(
                ["Id", "ConvertedContactId"],
                "Lead",
                "IsConverted = true AND ConvertedContactId IN {}",
                [ids[start : start + 200]],
            )
            for row in self._side(SF, lambda soql=soql: self.sf.query(soql)):
                p = contacts.get(str(row.get("ConvertedContactId") or ""))
                if p is not None and p.facts is not None:
                    p.facts = replace(p.facts, converted=True)

    def _lock_matching(self, people: list[_Person]) -> None:
        """People missing a side also lock what they may be matched with: their normalised email and
        the records their stored link ids name, so two workers never link or create for one human
        (the worker holding a person's own record is the only one that can link it)."""
        link = self.cmap.link_sf_hubspot_id
        groups: list[list[str]] = []
        for p in people:
            if p.sf is not None:
                p.email = normalise_email(p.sf.get(SF_EMAIL))
                if p.hs is None and _hs_id(p.sf.get(link)):
                    p.candidates.append(RecordKey.hubspot(str(p.sf.get(link)).strip()))
            if p.hs is not None:
                p.email = p.email or normalise_email(p.hs.get(HS_EMAIL))
                if p.sf is None:
                    for obj, prop in (
                        ("Contact", self.cmap.link_hs_contact_id),
                        ("Lead", self.cmap.link_hs_lead_id),
                    ):
                        rid = str(p.hs.get(prop) or "").strip()
                        if _sf_id(rid):
                            p.candidates.append(RecordKey.salesforce(obj, rid))
            held = {lease.name for lease in p.leases}
            names = {str(k) for k in p.candidates} | ({f"email:{p.email}"} if p.email else set())
            groups.append(sorted(names - held))
        got = self.state.locks.try_acquire_groups(groups)
        for p, group, leases in zip(people, groups, got, strict=True):
            if leases is None:
                p.settle(Disposition.BUSY, f"another worker is matching {', '.join(group)}")
            else:
                p.leases += leases

    def _read_salesforce(
        self, people: list[_Person], *, keys: Iterable[tuple[_Person, RecordKey]] = ()
    ) -> None:
        wanted = list(keys) or [(p, p.sf_key) for p in people if p.sf_key is not None]
        for obj in ("Lead", "Contact"):
            mine = [(p, k) for p, k in wanted if k.object_type == obj]
            if not mine:
                continue
            columns = [*self.sf_fields[obj], *sf_queries.facts_columns(obj, self.sf.calls_subquery)]
            report = self._side(
                SF,
                lambda obj=obj, mine=mine, columns=columns: self.sf.fetch(
                    obj, [k.id for _, k in mine], columns
                ),
            )
            for p, asked in mine:
                k = asked
                row = report.records.get(k.id)
                if row is None:
                    continue  # deleted: the side is gone
                survivor = report.redirected.get(k.id)
                if survivor is not None:  # merged away: follow the survivor, unless it is someone else's
                    key = RecordKey.salesforce(obj, survivor)
                    owner = self.state.links.link(p.pid, SF, str(key))
                    if owner != p.pid:
                        self.state.links.unlink_side(p.pid, SF, merged_into=str(key))
                        p.sf_key, p.sf_merged_into = None, str(key)
                        continue
                    k = key
                try:
                    p.sf_key, p.sf_row, p.sf = k, row, salesforce_record(row)
                except InputError as exc:
                    self._dead_input(p, k, exc)

    def _read_hubspot(self, people: list[_Person]) -> None:
        mine = [p for p in people if p.hs_key is not None]
        if not mine:
            return
        report = self._side(
            HS, lambda: self.hs.fetch("contacts", [p.hs_key.id for p in mine if p.hs_key], self.hs_props)
        )
        for p in mine:
            assert p.hs_key is not None
            row = report.records.get(p.hs_key.id)
            if row is None:
                continue  # archived or purged: the side is gone
            survivor = report.redirected.get(p.hs_key.id)
            if survivor is not None:
                key = RecordKey.hubspot(survivor)
                owner = self.state.links.link(p.pid, HS, str(key))
                if owner != p.pid:
                    # two people's contacts were merged: the survivor stays with its person (see _merged)
                    self.state.links.unlink_side(p.pid, HS, merged_into=str(key))
                    p.hs_key, p.merged_into = None, str(key)
                    continue
                p.hs_key = key
            try:
                p.hs = hubspot_record(row)
            except InputError as exc:
                self._dead_input(p, p.hs_key, exc)

    def _match(self, people: list[_Person]) -> None:
        """Find each person's missing partner: stored ids first, then the normalised email."""
        found: dict[int, RecordKey] = {}
        # stored ids (pre-read): verify they exist by reading them
        sf_wanted = [(p, k) for p in people if p.sf is None for k in p.candidates if k.crm == "sf"]
        hs_wanted = [(p, k) for p in people if p.hs is None for k in p.candidates if k.crm == "hs"]
        if sf_wanted:
            for obj in ("Lead", "Contact"):
                ids = sorted({k.id for _, k in sf_wanted if k.object_type == obj})
                if ids:
                    rows = self._side(SF, lambda obj=obj, ids=ids: self.sf.fetch(obj, ids, ["Id"])).records
                    for p, k in sf_wanted:
                        if k.object_type == obj and k.id in rows and id(p) not in found:
                            found[id(p)] = RecordKey.salesforce(obj, str(rows[k.id]["Id"]))  # a survivor
        if hs_wanted:
            rows = self._side(
                HS, lambda: self.hs.fetch("contacts", sorted({k.id for _, k in hs_wanted}), [HS_EMAIL])
            ).records
            for p, k in hs_wanted:
                if k.id in rows and id(p) not in found:
                    found[id(p)] = RecordKey.hubspot(str(rows[k.id]["id"]))
        # the normalised email
        email_of = {
            id(p): normalise_email(p.sf.get(SF_EMAIL) if p.sf else (p.hs.get(HS_EMAIL) if p.hs else None))
            for p in people
        }
        need_hs = [p for p in people if p.hs is None and id(p) not in found and email_of[id(p)]]
        if need_hs:
            by_email = self._side(
                HS, lambda: self.hs.read_by_unique(HS_EMAIL, [email_of[id(p)] or "" for p in need_hs])
            )
            for p in need_hs:
                rec = by_email.get(email_of[id(p)] or "")
                if rec is not None:
                    found[id(p)] = RecordKey.hubspot(str(rec["id"]))
        need_sf = [p for p in people if p.sf is None and id(p) not in found and email_of[id(p)]]
        if need_sf:
            emails = sorted({email_of[id(p)] or "" for p in need_sf})
            hits = self._side(SF, lambda: self._salesforce_by_email(emails))
            for p in need_sf:
                k = hits.get(email_of[id(p)] or "")
                if k is not None:
                    found[id(p)] = k
        if not found:
            return
        owners = self.state.links.person_of([str(k) for k in found.values()])
        others = self.state.links.people(sorted({o for o in owners.values()}))
        linked: list[tuple[_Person, RecordKey]] = []
        for p in people:
            hit = found.get(id(p))
            if hit is None:
                continue
            k = hit
            owner = owners.get(str(k))
            if owner is not None and owner != p.pid:
                other = others.get(owner)
                mine = p.sf_key if k.crm == "hs" else p.hs_key
                theirs = other.side(SF if k.crm == "hs" else HS) if other else None
                if theirs is not None and theirs != str(mine) and self._converted_into(theirs, mine):
                    # the person's lead was converted into this contact: its own sync moves the link
                    p.settle(Disposition.BUSY, f"{mine} is the contact {theirs} was converted into")
                elif theirs is not None and theirs != str(mine):
                    p.settle(
                        Disposition.DEAD_LETTERED, f"duplicate: {k} already belongs to {owner} with {theirs}"
                    )
                    self._dead_duplicate(p, k, owner, theirs)
                elif theirs is None and other is not None and self._join(p, owner):
                    linked.append((p, k))  # the partner's person lacked this side: this record joins it
                else:
                    p.settle(Disposition.BUSY, f"{k} is being linked by {owner}")
                continue
            own = p.sf_key if p.sf is not None else p.hs_key
            if own is not None:
                self.state.links.link(p.pid, own.side, str(own))
            if self.state.links.link(p.pid, k.side, str(k)) != p.pid:
                p.settle(Disposition.BUSY, f"{k} was linked meanwhile")
                continue
            linked.append((p, k))
        self._read_salesforce([], keys=[(p, k) for p, k in linked if k.crm == "sf"])
        hs_people = [p for p, k in linked if k.crm == "hs"]
        for p, k in linked:
            if k.crm == "hs":
                p.hs_key = k
        self._read_hubspot(hs_people)

    def _merged(self, people: list[_Person], *, dry_run: bool = False) -> None:
        """People a CRM merge folded into another person's record, on one side or both.

        A record is linked with one partner only, so the worker never links a second record to the
        survivor, and never creates one either. When nothing of the person is left on either side (both
        of its records were merged into the other person's, or the other one is gone), the other person
        carries it on: its dead letter is cleared. While one side still has its own record, that
        record's changes cannot be synced (invariant: synced or dead-lettered, never silently dropped):
        the person is dead-lettered ``merged``, naming what to merge on the other side (a dry run only
        says so)."""
        for p in people:
            if p.disposition is not None:
                continue
            survivors = [k for k in (p.sf_merged_into, p.merged_into) if k]
            if p.sf is None and p.hs is None:
                if not dry_run:
                    self.state.dead.clear(p.pid)
                p.settle(Disposition.SKIPPED, f"merged into {', '.join(survivors)}: nothing left to sync")
                continue
            mine = p.sf_key if p.sf is not None else p.hs_key
            survivor = survivors[0]
            owner = self.state.links.person_of([survivor]).get(survivor)
            other = self.state.links.person(owner) if owner else None
            theirs = other.side(HS if mine is not None and mine.crm == "hs" else SF) if other else None
            merged = "HubSpot contact" if survivor.startswith("hs:") else "Salesforce record"
            crm = "HubSpot" if mine is not None and mine.crm == "hs" else "Salesforce"
            target = theirs or "the other person's record"
            detail = (
                f"its {merged} was merged into {survivor}, which belongs to {owner}; {mine} is still its "
                f"own: merge it into {target} in {crm} too (one record is synced with one partner only)"
            )
            if dry_run:
                p.settle(Disposition.SKIPPED, detail)
                continue
            self.state.dead.put(
                DeadLetter(p.pid, "merged", detail=detail, record_keys=tuple(str(k) for k in (mine,) if k))
            )
            p.settle(Disposition.DEAD_LETTERED, detail)

    def _join(self, p: _Person, owner: str) -> bool:
        """Make ``p``'s own record part of ``owner``, a person with no record on that side (e.g. a
        HubSpot contact below the hand-over stage, then a lead created by sales for the same email).
        The person keeps its id and base: the record is newly seen, never a reason to demote."""
        own = p.sf_key if p.sf is not None else p.hs_key
        [leases] = self.state.locks.try_acquire_groups([[owner]])
        if own is None or leases is None:
            return False
        p.leases += leases
        if self.state.links.link(owner, own.side, str(own)) != owner:
            return False
        p.pid = owner
        return True

    def _converted_into(self, theirs: str, mine: RecordKey | None) -> bool:
        """Whether ``theirs`` (a person's Salesforce record) is a lead converted into ``mine``."""
        lead = RecordKey.parse(theirs)
        if mine is None or mine.object_type != "Contact" or lead.object_type != "Lead":
            return False
        rows = self._side(SF, lambda: self.sf.fetch("Lead", [lead.id], ["Id", "ConvertedContactId"])).records
        converted = str((rows.get(lead.id) or {}).get("ConvertedContactId") or "")
        return bool(converted) and RecordKey.salesforce("Contact", converted) == mine

    def _salesforce_by_email(self, emails: list[str]) -> dict[str, RecordKey]:
        """A Contact with the email, else the most recently changed unconverted Lead."""
        out: dict[str, RecordKey] = {}
        for obj, extra in (("Contact", ""), ("Lead", " AND IsConverted = false")):
            rest = [e for e in emails if e not in out and len(e) <= SF_EMAIL_LENGTH]

            def build(chunk: list[str], obj: str = obj, extra: str = extra) -> str:
                return sf_queries.select(
                    ["Id", SF_EMAIL], obj, "Email IN {}" + extra, [chunk], tail="ORDER BY SystemModstamp DESC"
                )

            for soql in sf_queries.fitting(rest, build, max_items=200):
                for row in self.sf.query(soql):
                    email = normalise_email(row.get(SF_EMAIL))
                    if email and email not in out:
                        out[email] = RecordKey.salesforce(obj, str(row["Id"]))
        return out

    def _deals(self, people: list[_Person]) -> dict[str, list[Opportunity]]:
        """Each person's associated HubSpot deals (one association read per 1,000 contacts, one deal
        read per 100 deals)."""
        contacts = {p.hs.id: p.pid for p in people if p.hs is not None}
        if not contacts:
            return {}
        links = self._side(
            HS, lambda: self.hs.read_associations(list(contacts), from_type="contacts", to_type="deals")
        )
        wanted = sorted({d for ids in links.values() for d in ids})
        rows = (
            self._side(
                HS, lambda: self.hs.read(wanted, object_type="deals", properties=HUBSPOT_DEAL_PROPERTIES)
            )
            if wanted
            else {}
        )
        won, lost = self.settings.hubspot_won_stages, self.settings.hubspot_lost_stages
        out: dict[str, list[Opportunity]] = {}
        for cid, ids in links.items():
            pid = contacts.get(cid)
            if pid is not None:
                out[pid] = [hubspot_deal(rows[d], won, lost) for d in ids if d in rows]
        return out

    def _facts(self, p: _Person, now_ms: int, run: Run) -> Facts | None:
        new = self._new_record(p, now_ms, run)
        if p.sf_row is not None:
            return self._salesforce_facts(p.sf_row, new)
        if p.base is None:
            return Facts(new_record=new)
        return None  # not loaded: the base's memory of the facts is kept

    def _salesforce_facts(self, row: Record, new_record: bool | None) -> Facts:
        return salesforce_facts(
            row,
            new_record=new_record,
            customer_types=self.settings.customer_account_types,
            churned_types=self.settings.churned_account_types,
        )

    def _new_record(self, p: _Person, now_ms: int, run: Run) -> bool | None:
        """``None`` lets the planner derive it (first sight is new); ``False`` for a backfill and for a
        person first met whose records were all created before ``new_record_window_s``."""
        if run.kind == "backfill":
            return False
        if p.base is not None:
            return None
        created = []
        if p.sf is not None:
            created.append(parse_timestamp_ms(p.sf.get("CreatedDate"), "CreatedDate"))
        if p.hs is not None:
            created.append(parse_timestamp_ms(p.hs.get("createdate"), "createdate"))
        known = [c for c in created if c is not None]
        window = int(self.settings.new_record_window_s * 1000)
        if known and all(now_ms - c > window for c in known):
            return False
        return None

    # ------------------------------------------------------------------ 6. plan
    def _plan(self, people: list[_Person]) -> None:
        for p in people:
            if p.sf is None and p.hs is None:
                p.settle(Disposition.SKIPPED, "both records are gone")
                continue
            try:
                p.plan = plan(p.sf, p.hs, p.base, p.facts, self.cmap)
            except InputError as exc:
                p.settle(Disposition.DEAD_LETTERED, f"cannot plan: {exc}")
                self.state.dead.put(
                    DeadLetter(p.pid, "error", detail=str(exc)[:500], record_keys=tuple(p.keys))
                )

    # ------------------------------------------------------------------ 7. write
    def _execute(self, people: list[_Person], run: Run) -> dict[Side, Stop]:
        """Run the batch's writes in three phases; returns what stopped a side's writes, if anything."""
        stops: dict[Side, Stop] = {}
        creates: dict[Side, list[tuple[_Person, WriteOp, Write]]] = {SF: [], HS: []}
        for p in people:
            assert p.plan is not None
            for w in p.plan.writes:
                if w.op == "create":
                    # idempotency handles: a Salesforce create is an upsert on HubSpot_Contact_ID__c
                    # (the HubSpot id); a HubSpot create carries the Salesforce record's key
                    key = p.hs.id if w.side == SF and p.hs is not None else str(p.sf_key)
                    creates[w.side].append((p, WriteOp(key, "create", w.object_type, w.values()), w))
        for side in (SF, HS):
            if (stop := self._apply(side, "create", creates[side], run)) is not None:
                stops[side] = stop
        self._adopt_duplicates(people)
        for p in people:
            for a in p.applied:
                if a.role == "create" and a.result.ok and a.result.id:
                    p.created[a.side] = a.result.id
                    made = (
                        RecordKey.salesforce(a.op.object_type, a.result.id)
                        if a.side == SF
                        else RecordKey.hubspot(a.result.id)
                    )
                    if self.state.links.link(p.pid, a.side, str(made)) != p.pid:
                        p.failed = True
                        p.detail = f"created {made} is linked to another person"
                    if a.side == SF:
                        p.sf_key = made
                    else:
                        p.hs_key = made
        updates: dict[Side, list[tuple[_Person, WriteOp, Write | None]]] = {SF: [], HS: []}
        moves: list[tuple[_Person, WriteOp, Write | None]] = []
        for p in people:
            if p.failed:
                continue
            assert p.plan is not None
            sf_update, hs_update, move = self._updates(p)
            if sf_update is not None:
                updates[SF].append(sf_update)
            if hs_update is not None:
                updates[HS].append(hs_update)
            if move is not None:
                moves.append(move)
        for side in (SF, HS):
            if (
                stop := self._apply(side, "update", [u for u in updates[side] if not u[0].failed], run)
            ) is not None:
                stops[side] = stop
        if (stop := self._apply(HS, "move_back", [m for m in moves if not m[0].failed], run)) is not None:
            stops[HS] = stop
        return stops

    def _adopt_duplicates(self, people: list[_Person]) -> None:
        """A Salesforce create refused by the org's duplicate rules (``DUPLICATES_DETECTED``, e.g. sales
        saved a lead for the same email while ours was on the wire) links the person to the match when
        it is the same person by normalised email and belongs to nobody else (a Contact first, else an
        unconverted Lead); the person is synced again at once as a linked pair (first sight: never
        demoted). Any other match stays a rejection, dead-lettered with the matches named."""
        refused = [
            (p, a)
            for p in people
            for a in p.applied
            if a.side == SF and a.role == "create" and isinstance(a.result.error, DuplicatesDetectedError)
        ]
        if not refused:
            return
        ids = sorted({m for _, a in refused for m in getattr(a.result.error, "matches", ())})
        rows: dict[str, tuple[str, Record]] = {}
        try:
            for obj, prefix in (("Contact", "003"), ("Lead", "00Q")):
                wanted = [i for i in ids if i.startswith(prefix)]
                columns = ["Id", SF_EMAIL, *(("IsConverted",) if obj == "Lead" else ())]
                if wanted:
                    for rid, row in self.sf.fetch(obj, wanted, columns).records.items():
                        rows[rid] = (obj, row)
        except CrmError as exc:
            log.warning("duplicate matches not read (%s): the refusals stay dead letters", exc.code)
            return
        owners = self.state.links.person_of([str(RecordKey.salesforce(o, i)) for i, (o, _) in rows.items()])
        for p, a in refused:
            email = p.email or normalise_email(p.hs.get(HS_EMAIL) if p.hs else None)
            error = a.result.error
            assert isinstance(error, DuplicatesDetectedError)
            same = [
                RecordKey.salesforce(obj, rid)
                for rid in error.matches
                if rid in rows
                for obj, row in [rows[rid]]
                if email is not None
                and normalise_email(row.get(SF_EMAIL)) == email
                and not row.get("IsConverted")
                and owners.get(str(RecordKey.salesforce(obj, rid)), p.pid) == p.pid
            ]
            same.sort(key=lambda k: k.object_type != "Contact")
            if not same or self.state.links.link(p.pid, SF, str(same[0])) != p.pid:
                continue
            p.applied.remove(a)
            p.failed = p.adopted = True
            p.sf_key = same[0]
            p.detail = f"linked to {same[0]}, the duplicate rule's match by email: synced again"

    def _updates(
        self, p: _Person
    ) -> tuple[
        tuple[_Person, WriteOp, Write | None] | None,
        tuple[_Person, WriteOp, Write | None] | None,
        tuple[_Person, WriteOp, Write | None] | None,
    ]:
        assert p.plan is not None
        cmap = self.cmap
        sf_write = next((w for w in p.plan.salesforce if w.op == "update"), None)
        sf_values: dict[str, str | None] = dict(sf_write.values()) if sf_write else {}
        target: tuple[str, str] | None = (
            (sf_write.object_type, sf_write.record_id or "") if sf_write else None
        )
        if HS in p.created and p.sf is not None:
            sf_values[cmap.link_sf_hubspot_id] = p.created[HS]
            if target is None:
                target = self._salesforce_target(p.sf)
        sf_update = None
        if sf_values and target is not None:
            sf_update = (p, WriteOp(p.pid, "update", target[0], sf_values, target[1]), sf_write)
        hs_writes = sorted((w for w in p.plan.hubspot if w.op == "update"), key=lambda w: w.step)
        stage_prop = cmap.stage_field.hubspot or "lifecyclestage"
        move = None
        hs_values: dict[str, str | None] = {}
        hs_write: Write | None = None
        if len(hs_writes) == 2 and hs_writes[0].values() == {stage_prop: ""}:
            hs_write = hs_writes[1]
            rest = dict(hs_write.values())
            stage = rest.pop(stage_prop)
            move = (
                p,
                WriteOp(f"{p.pid}#move", "move_back", "contacts", {stage_prop: stage}, hs_write.record_id),
                hs_write,
            )
            hs_values = rest
        elif hs_writes:
            hs_write = hs_writes[0]
            hs_values = dict(hs_write.values())
        if SF in p.created:  # the plan creates Salesforce Leads only
            hs_values[cmap.link_hs_lead_id] = p.created[SF]
        hs_update = None
        hs_id = hs_write.record_id if hs_write is not None else (p.hs.id if p.hs else p.created.get(HS))
        if hs_values and hs_id:
            hs_update = (p, WriteOp(p.pid, "update", "contacts", hs_values, hs_id), hs_write)
        return sf_update, hs_update, move

    @staticmethod
    def _salesforce_target(sf: SalesforceRecord) -> tuple[str, str]:
        if sf.object_type == "Lead" and sf.is_converted and sf.converted_contact_id:
            return "Contact", sf.converted_contact_id
        return sf.object_type, sf.id

    def _apply(
        self, side: Side, role: str, items: Sequence[tuple[_Person, WriteOp, Write | None]], run: Run
    ) -> Stop | None:
        held = {id(p) for p in self._held([p for p, _, _ in items])}
        items = [item for item in items if id(item[0]) in held]
        if not items:
            return None
        port = self.sf if side == SF else self.hs
        ops = [op for _, op, _ in items]
        if role == "create":
            self.state.intents.put(
                {
                    p.pid: [
                        CreateIntent(
                            run.id,
                            run.kind,
                            side,
                            op.object_type,
                            op.key,
                            dict(op.values),
                            {n: self._cause_text(p, side, write, n) for n in op.values},
                        )
                        for q, op, write in items
                        if q is p
                    ]
                    for p, _, _ in items
                }
            )
        report: WriteReport = port.apply(ops)
        if report.in_state(Outcome.UNKNOWN):
            report = port.reconcile(report)
        at = time.time()
        for p, op, write in items:
            result = report[op.key]
            p.applied.append(_Applied(side, role, op, write, result, at))
            if not result.ok:
                p.failed = True
        if report.stopped is not None:
            self._note_stop(side, report.stopped)
        return report.stopped

    def _held(self, people: Sequence[_Person]) -> list[_Person]:
        """Extend the locks of ``people`` before they are written to; a person whose lock expired (and
        may now be held by another worker) is written no further: the base's fence alone cannot stop
        a stale worker's CRM writes, so every write phase checks the lease first."""
        unique = list({id(p): p for p in people if not p.failed}.values())
        lost = {lease.name for lease in self.state.locks.extend_all([x for p in unique for x in p.leases])}
        held = []
        for p in unique:
            if lost & {lease.name for lease in p.leases}:
                p.failed = True
                p.detail = "the person's lock expired mid-sync (another worker may hold it): no more writes"
            else:
                held.append(p)
        return held

    # ------------------------------------------------------------------ 8. commit
    def _commit(self, people: list[_Person], run: Run, marks: _Marks) -> None:
        audit: list[AuditEntry] = []
        ready: list[_Person] = []
        for p in people:
            assert p.plan is not None
            audit += self._audit(p, run)
            bad = [a for a in p.applied if not a.result.ok]
            if not bad and p.failed:
                p.settle(Disposition.RETRY, p.detail)
            elif not bad:
                ready.append(p)
            elif rejected := [a for a in bad if a.result.state is Outcome.REJECTED]:
                self.state.dead.put(
                    DeadLetter(
                        p.pid,
                        "rejected",
                        tuple(_failed(a) for a in bad),
                        plan=plan_to_json(p.plan, self.cmap),
                        run_id=run.id,
                        run_kind=run.kind,
                        detail="; ".join(f"{a.side} {a.result.code}: {a.result.message}" for a in rejected)[
                            :1000
                        ],
                        record_keys=tuple(str(k) for k in (p.sf_key, p.hs_key) if k),
                    )
                )
                p.settle(Disposition.DEAD_LETTERED, f"{rejected[0].side} rejected: {rejected[0].result.code}")
            else:
                paused = {a.side for a in bad if self.state.pauses.paused(a.side)}
                detail = "; ".join(
                    f"{a.side} {a.result.state.value}: {a.result.code or a.result.message}" for a in bad
                )
                p.settle(Disposition.PAUSED if paused else Disposition.RETRY, detail[:500])
        recovered, drop = self._recovered(people, run)
        # the batch's counters ride on the audit's pipeline (every CRM call of the batch is made)
        self.state.audit.append(recovered + audit, also=lambda pipe: self._tally(people, marks).into(pipe))
        marks.counted = {id(p) for p in people}
        self.state.intents.clear(drop)
        held = self._held(ready)
        for p in ready:
            if not any(p is h for h in held):
                p.settle(Disposition.RETRY, p.detail)
        self._store(held, run)

    def _store(self, people: list[_Person], run: Run) -> None:
        """The new bases (with the ids of records just created), fenced by each person's lock token;
        a conversion moves the person's Salesforce link to the Contact. A person whose plan holds a
        status back because a field it requires is blank (``blocked``: the CRM's validation rule would
        refuse the write) is dead-lettered naming the requirement, so an operator sees it; the rest of
        the plan is applied and stored as usual."""
        bases: dict[str, Base] = {}
        for p in people:
            assert p.plan is not None
            new = p.plan.new_base
            if SF in p.created:
                new = replace(new, salesforce_object="Lead", salesforce_id=p.created[SF])
            if HS in p.created:
                new = replace(new, hubspot_id=p.created[HS])
            if new != p.base:
                bases[p.pid] = new
            if new.salesforce_id and new.salesforce_object in ("Lead", "Contact"):
                current = RecordKey.salesforce(new.salesforce_object, new.salesforce_id)
                if p.sf_key != current:  # a conversion: later changes go to the Contact
                    self.state.links.link(p.pid, SF, str(current))
        fences = {p.pid: p.fence for p in people}
        refused = set(self.state.bases.put_many(bases, fence={pid: fences[pid] for pid in bases}))
        synced: list[str] = []
        for p in people:
            if p.pid in refused:
                p.settle(
                    Disposition.RETRY, "the person's lock expired mid-sync: base not stored (stale fence)"
                )
            elif p.plan is not None and (blocked := [s for s in p.plan.skipped if s.kind == "blocked"]):
                detail = "; ".join(s.detail for s in blocked)[:1000]
                self.state.dead.put(
                    DeadLetter(
                        p.pid,
                        "blocked",
                        plan=plan_to_json(p.plan, self.cmap),
                        run_id=run.id,
                        run_kind=run.kind,
                        detail=detail,
                        record_keys=tuple(str(k) for k in (p.sf_key, p.hs_key) if k),
                    )
                )
                p.settle(Disposition.DEAD_LETTERED, f"blocked: {detail}"[:500])
            else:
                # a letter may be filed under a record's own key, from before it joined this person
                synced += dict.fromkeys([p.pid, *p.keys, *(str(k) for k in (p.sf_key, p.hs_key) if k)])
                p.settle(Disposition.SYNCED, self._summary(p))
        self.state.dead.clear_many(synced)

    def _audit(self, p: _Person, run: Run) -> list[AuditEntry]:
        """One entry per field of every applied write: before, after, and the plan's cause (with the
        conflict it settled, when there was one)."""
        assert p.plan is not None
        conflicts = {
            c.field: f"; conflict: Salesforce {c.salesforce!r} vs HubSpot {c.hubspot!r}, {c.winner} wins "
            f"({c.policy})"
            for c in p.plan.conflicts
        }
        entries: list[AuditEntry] = []
        for a in p.applied:
            if not a.result.ok:
                continue
            causes = {c.field: c.cause for c in a.write.changes} if a.write is not None else {}
            current = (p.sf.values if p.sf else {}) if a.side == SF else (p.hs.properties if p.hs else {})
            record = a.result.id or a.op.record_id or ""
            for name, value in a.op.values.items():
                text = self._cause_text(p, a.side, a.write, name, causes, conflicts)
                before = None if a.role == "create" else current.get(name)
                entries.append(
                    AuditEntry(
                        run.id,
                        run.kind,
                        p.pid,
                        a.side,
                        a.op.object_type,
                        record,
                        name,
                        before,
                        value,
                        text,
                        a.role,
                    )
                )
        return entries

    def _cause_text(
        self,
        p: _Person,
        side: Side,
        write: Write | None,
        name: str,
        causes: Mapping[str, Any] | None = None,
        conflicts: Mapping[str, str] | None = None,
    ) -> str:
        """The audit's cause for one field of a write: the plan's cause and the conflict it settled."""
        if causes is None:
            causes = {c.field: c.cause for c in write.changes} if write is not None else {}
        if conflicts is None:
            assert p.plan is not None
            conflicts = {
                c.field: f"; conflict: Salesforce {c.salesforce!r} vs HubSpot {c.hubspot!r}, {c.winner} wins "
                f"({c.policy})"
                for c in p.plan.conflicts
            }
        cause = causes.get(name)
        if cause is None:
            return "link|created|the id of the record just created"
        return f"{cause.kind}|{cause.ref}|{cause.detail}" + conflicts.get(
            self.field_ids.get((side, name), ""), ""
        )

    def _recovered(self, people: list[_Person], run: Run) -> tuple[list[AuditEntry], dict[str, list[str]]]:
        """Audit entries for creates earlier runs sent but never committed, found applied now (the
        record on that side carries the create's key), and the intents to drop: every earlier run's,
        and this run's unless one of its creates is still of unknown outcome."""
        entries: list[AuditEntry] = []
        drop: dict[str, list[str]] = {}
        found = self.state.intents.get_many([p.pid for p in people])
        for p in people:
            unknown = any(a.role == "create" and a.result.state is Outcome.UNKNOWN for a in p.applied)
            runs = drop.setdefault(p.pid, [] if unknown else [run.id])
            for intent in found.get(p.pid, []):
                if intent.run == run.id:
                    continue
                if intent.run not in runs:
                    runs.append(intent.run)
                record = self._carrying_key(p, intent.side, intent.key)
                if record is None:
                    continue  # that create never landed (this run planned it again)
                entries += [
                    AuditEntry(
                        intent.run,
                        intent.run_kind,
                        p.pid,
                        intent.side,
                        intent.object_type,
                        record,
                        name,
                        None,
                        value,
                        f"{intent.causes.get(name, '')}; audited by run {run.id}: its own run did not finish",
                        "create",
                    )
                    for name, value in intent.values.items()
                ]
        return entries, drop

    def _carrying_key(self, p: _Person, side: str, key: str) -> str | None:
        """The id of the person's record on ``side`` when it carries the create key ``key``."""
        if side == HS and p.hs is not None:
            if str(p.hs.properties.get(self.hs.settings.create_key_property) or "") == key:
                return p.hs.id
        if side == SF and p.sf is not None and p.sf_row is not None:
            if str(p.sf_row.get(self.cmap.link_sf_hubspot_id) or "") == key:
                return p.sf.id
        return None

    @staticmethod
    def _summary(p: _Person) -> str:
        n = sum(1 for a in p.applied if a.result.ok)
        return f"{n} write(s) applied" if n else "in agreement: nothing to write"

    def _dead_input(self, p: _Person, key: RecordKey, exc: InputError) -> None:
        """A record the core cannot read (a value of an unexpected shape): the person waits for an
        operator instead of failing the batch or looping."""
        detail = f"{key} cannot be read: {exc}"[:500]
        p.settle(Disposition.DEAD_LETTERED, detail)
        self.state.dead.put(DeadLetter(p.pid, "error", detail=detail, record_keys=(str(key),)))

    def _dead_duplicate(self, p: _Person, partner: RecordKey, owner: str, theirs: str) -> None:
        self.state.dead.put(
            DeadLetter(
                p.pid,
                "duplicate",
                detail=f"{partner} matches this person but already belongs to {owner}, linked to {theirs}: "
                "merge the duplicate records in the CRM",
                record_keys=tuple(str(k) for k in (p.sf_key, p.hs_key) if k),
            )
        )

    # ------------------------------------------------------------------ CRM stops
    def _side(self, side: Side, call: Any) -> Any:
        try:
            return call()
        except CrmError as exc:
            stop = Stop.of(exc)
            self._note_stop(side, stop)
            raise _SideStoppedError(side, stop) from exc

    def _note_stop(self, side: Side, stop: Stop) -> None:
        if stop.reason in (StopReason.QUOTA, StopReason.SESSION, StopReason.FATAL):
            seconds = (
                self.settings.quota_pause_s
                if stop.reason is StopReason.QUOTA
                else self.settings.fatal_pause_s
            )
            self.state.pauses.pause(side, str(stop), seconds=seconds)
            log.warning("%s paused for %.0f s: %s", side, seconds, stop)

    @staticmethod
    def _stop_disposition(stop: Stop) -> Disposition:
        return Disposition.RETRY if stop.reason is StopReason.RETRIES_EXHAUSTED else Disposition.PAUSED

    def _calls(self) -> dict[str, int]:
        return {SF: self.sf.calls, HS: self.hs.transport.stats.calls}

    # ------------------------------------------------------------------ metrics and logs
    def _tally(self, people: Sequence[_Person], marks: _Marks) -> Tally:
        """The writes, rejections and change-to-write latencies of ``people`` not counted yet, and the
        retries the adapters made since they were last taken (this batch's, and any poll's made by
        this process in between) (``worker.state.metrics``)."""
        tally = Tally()
        for p in people:
            if id(p) in marks.counted:
                continue
            first_at: dict[str, float] = {}
            for a in p.applied:
                if a.result.ok:
                    tally.inc("writes", a.side, a.role)
                    first_at[a.side] = min(first_at.get(a.side, a.at), a.at)
                elif a.result.state is Outcome.REJECTED:
                    tally.inc("rejected", a.side, a.result.code)
            seen = [marks.seen[m] for raw in p.keys if (m := marks.of.get(raw)) in marks.seen]
            if seen:
                for side, at in first_at.items():
                    tally.observe_latency(side, at - min(seen) / 1000)
        for side, port in ((SF, self.sf), (HS, self.hs.transport)):
            for reason, n in port.take_retries().items():
                tally.inc("retries", side, reason, n=n)
        return tally

    def _count(self, people: Sequence[_Person], marks: _Marks) -> None:
        """What the commit's pipeline did not count, and the first-seen marks of keys not finished
        (nothing written, and to be synced again: busy, paused, retry, a dry run) given back: one
        pipeline, sent only when there is something to send."""
        tally = self._tally(people, marks)
        marks.counted.update(id(p) for p in people)
        back: dict[SeenKey, int] = {}
        for p in people:
            if marks.dry_run or (p.disposition not in DONE and not any(a.result.ok for a in p.applied)):
                back.update({m: marks.seen[m] for raw in p.keys if (m := marks.of.get(raw)) in marks.seen})
        if tally or back:
            pipe = self.state.redis.pipeline(transaction=False)
            tally.into(pipe)
            restore_first_seen(pipe, back)
            pipe.execute()

    @staticmethod
    def _log_outcome(p: _Person, run: Run) -> None:
        """One line per person that was written to or needs an operator (the rest at DEBUG)."""
        writes = sum(1 for a in p.applied if a.result.ok)
        level = (
            logging.WARNING
            if p.disposition is Disposition.DEAD_LETTERED
            else logging.INFO
            if writes
            else logging.DEBUG
        )
        if log.isEnabledFor(level):
            with bound(person=p.pid):
                log.log(level, "%s: %s (%s run)", p.disposition, p.detail, run.kind)


def _failed(a: _Applied) -> FailedWrite:
    return FailedWrite(
        a.side,
        a.op.kind,
        a.op.object_type,
        a.op.record_id or a.result.id,
        dict(a.op.values),
        a.result.code,
        a.result.message[:500],
        a.result.state.value,
    )


def _hs_id(value: object) -> bool:
    text = str(value or "").strip()
    return text.isdigit() and 0 < len(text) <= 19 and text[0] != "0"


def _sf_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum()
