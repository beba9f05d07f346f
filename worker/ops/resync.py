"""Manual resync: turn what an operator knows (an id, an email, "everything that failed") into record
keys, and run them through the sync service in the foreground.

The service takes each person's lock exactly as the daemon does, so a resync never interleaves with a
worker; a person the daemon holds right now answers ``busy`` (exit 3: try again). ``dry_run`` plans
under the lock and writes nothing (no CRM write, base, audit entry or dead letter; a record found
unlinked may be linked, as any read would).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from worker.crm.salesforce import queries as sf_queries
from worker.errors import InputError
from worker.plan.model import Plan
from worker.state.audit import AuditEntry
from worker.state.deadletters import DeadLetter
from worker.state.store import State
from worker.sync import Disposition, RecordKey, Run, SyncService

SALESFORCE_PREFIXES = {"00Q": "Lead", "003": "Contact"}
EXIT_OK = 0
EXIT_REJECTED = 1  # a CRM refused a write (its message is printed) or the person was dead-lettered
EXIT_INVALID = 2  # bad input: nothing ran
EXIT_UNFINISHED = 3  # busy, paused or a transient failure: nothing lost, run it again later


def salesforce_key(text: str) -> RecordKey:
    """``00Q…`` (Lead) / ``003…`` (Contact) ids, or a full ``sf:Lead:…`` key."""
    value = text.strip()
    if value.startswith("sf:"):
        return RecordKey.parse(value)
    obj = SALESFORCE_PREFIXES.get(value[:3])
    if obj is None:
        raise InputError(f"{value[:40]!r} is not a Salesforce Lead (00Q…) or Contact (003…) id")
    return RecordKey.salesforce(obj, value)


def hubspot_key(text: str) -> RecordKey:
    value = text.strip()
    return RecordKey.parse(value) if value.startswith("hs:") else RecordKey.hubspot(value)


def keys_for_email(service: SyncService, email: str) -> list[str]:
    """Every Salesforce Lead/Contact and HubSpot contact carrying the email (either CRM may have it)."""
    wanted = email.strip().lower()
    if "@" not in wanted:
        raise InputError(f"{email[:60]!r} is not an email address")
    found: list[str] = []
    for obj in ("Contact", "Lead"):
        soql = sf_queries.select(["Id"], obj, "Email = {}", [wanted])
        found += [str(RecordKey.salesforce(obj, str(row["Id"]))) for row in service.sf.query(soql)]
    hit = service.hs.read_by_unique("email", [wanted]).get(wanted)
    if hit is not None:
        found.append(str(RecordKey.hubspot(str(hit["id"]))))
    return found


def dead_letters(state: State, code: str | None = None) -> list[DeadLetter]:
    """Every dead-lettered person, optionally only those whose failure carries ``code`` (a CRM error
    code such as ``INVALID_OPTION``, or a reason such as ``duplicate`` / ``retries_exhausted``)."""
    letters = state.dead.newest(limit=max(1, state.dead.count()))
    if code is None:
        return letters
    return [d for d in letters if d.reason == code or any(w.code == code for w in d.writes)]


def failed_keys(state: State, code: str | None = None) -> list[str]:
    keys: list[str] = []
    for letter in dead_letters(state, code):
        keys += list(letter.record_keys) or [letter.person]
    return keys


@dataclass(frozen=True)
class Rejection:
    side: str
    code: str | None
    message: str


@dataclass
class PersonResult:
    person: str
    keys: list[str]
    disposition: Disposition
    detail: str
    plan: Plan | None
    written: list[AuditEntry] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class ResyncReport:
    run: Run
    dry_run: bool
    people: list[PersonResult]

    @property
    def exit_code(self) -> int:
        states = {p.disposition for p in self.people}
        if Disposition.DEAD_LETTERED in states or Disposition.INVALID in states:
            return EXIT_REJECTED
        if states & {Disposition.BUSY, Disposition.PAUSED, Disposition.RETRY}:
            return EXIT_UNFINISHED
        return EXIT_OK


def resync(
    service: SyncService, keys: Sequence[str], *, dry_run: bool = False, batch: int = 50
) -> ResyncReport:
    """Sync (or plan) the keys' people now, and gather what was written or refused."""
    run = Run.new("resync")
    started_ms = int(time.time() * 1000)
    outcomes = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), batch):
        outcomes.update(service.sync_batch(unique[start : start + batch], run, dry_run=dry_run).keys)
    people: dict[str, PersonResult] = {}
    for key, o in outcomes.items():
        pid = o.person or key
        if pid in people:
            people[pid].keys.append(key)
            continue
        people[pid] = PersonResult(pid, [key], o.disposition, o.detail, o.plan)
    if not dry_run:
        for entry in service.state.audit.entries(run=run.id, since_ms=started_ms):
            if entry.person in people:
                people[entry.person].written.append(entry)
        for p in people.values():
            if p.disposition is Disposition.DEAD_LETTERED:
                letter = service.state.dead.get(p.person)
                p.rejected = _rejections(letter) if letter is not None else []
    return ResyncReport(run, dry_run, list(people.values()))


def _rejections(letter: DeadLetter) -> list[Rejection]:
    rejected = [Rejection(w.side, w.code, w.message) for w in letter.writes if w.state == "rejected"]
    return rejected or [Rejection("", letter.reason, letter.detail)]


def unique_keys(groups: Iterable[Iterable[str]]) -> list[str]:
    return list(dict.fromkeys(k for group in groups for k in group))
