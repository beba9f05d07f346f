"""``crmsync rollback RUN``: put back what a run overwrote, as new audited writes.

Per person the run touched, under the person's lock (the daemon's own), for every field the run wrote
(its first ``before`` is the value to restore, its last ``after`` what the run left):
- a person is **skipped and listed** when someone changed any of those fields since: a later audit
  entry by another run, or the CRM's current value no longer being what the run wrote;
- records the run created and the link ids it wrote are not undone (deleting records is the CRM
  admin's call; they are listed);
- otherwise the old values are written through the adapters (HubSpot's lifecycle stage by its guarded
  clear-then-set, whatever the direction), each as an audit entry of run kind ``rollback`` whose cause
  names the run, and the person is then synced once (run kind ``rollback``) so the base holds the
  restored values — a restored value the run had only copied across is copied back across by that
  sync, the same as the daemon would on its next poll.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from worker.crm.port import WriteOp
from worker.errors import InputError
from worker.ops.audit import cause_parts
from worker.state.audit import AuditEntry, AuditHold
from worker.state.locks import LockBusyError
from worker.sync import Run, SyncService

Side = Literal["salesforce", "hubspot"]
STAGE_PROPERTY = "lifecyclestage"


@dataclass(frozen=True)
class Restore:
    side: str
    object: str
    record: str
    field: str
    value: str | None  # what the field held before the run (None: blank)
    run_wrote: str | None  # what the run left in it


@dataclass
class PersonRollback:
    person: str
    restores: list[Restore] = field(default_factory=list)
    status: str = "planned"  # planned | restored | skipped | failed | busy
    reasons: list[str] = field(default_factory=list)
    not_undone: list[str] = field(default_factory=list)


@dataclass
class RollbackReport:
    run_id: str
    rollback_run: Run
    dry_run: bool
    people: list[PersonRollback]

    def of(self, status: str) -> list[PersonRollback]:
        return [p for p in self.people if p.status == status]

    @property
    def exit_code(self) -> int:
        if self.of("failed"):
            return 1
        return 3 if self.of("busy") else 0


def _restores(entries: list[AuditEntry], person: PersonRollback) -> list[Restore]:
    first: dict[tuple[str, str, str, str], AuditEntry] = {}
    last: dict[tuple[str, str, str, str], AuditEntry] = {}
    for e in entries:
        if e.op == "create":
            person.not_undone.append(f"{e.side} {e.object} {e.record} was created by the run")
            continue
        if cause_parts(e.cause)[0] == "link":
            continue
        k = (e.side, e.object, e.record, e.field)
        first.setdefault(k, e)
        last[k] = e
    person.not_undone = list(dict.fromkeys(person.not_undone))
    return [Restore(*k, first[k].before, last[k].after) for k in first]


def rollback(service: SyncService, run_id: str, *, dry_run: bool = False) -> RollbackReport:
    """Under an audit hold: the trimmer keeps the run's entries and everything after them (read for
    the later-writes check) until the rollback ends, whatever the retention."""
    with service.state.audit.holding(f"rollback:{run_id}") as hold:
        return _rollback(service, run_id, dry_run, hold)


def _rollback(service: SyncService, run_id: str, dry_run: bool, hold: AuditHold) -> RollbackReport:
    state = service.state
    by_person: dict[str, list[AuditEntry]] = defaultdict(list)
    first_id = ""
    for e in state.audit.entries(run=run_id):
        first_id = first_id or e.entry_id
        by_person[e.person].append(e)
    if not by_person:
        raise InputError(f"no audit entries for run {run_id!r} (trimmed, or no such run)")
    hold.keep_from(first_id)
    report = RollbackReport(run_id, Run.new("rollback"), dry_run, [])
    run_end_ms = max(e.at_ms for es in by_person.values() for e in es)
    later: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for e in state.audit.entries(since_ms=run_end_ms):
        if e.run != run_id and e.person in by_person:
            later[e.person].add((e.side, e.field))
    for pid, entries in by_person.items():
        hold.renew()
        person = PersonRollback(pid)
        report.people.append(person)
        person.restores = _restores(entries, person)
        touched = sorted({(r.side, r.field) for r in person.restores} & later[pid])
        if touched:
            person.status = "skipped"
            person.reasons = [f"{side} {name} was written again by a later run" for side, name in touched]
            continue
        if not person.restores:
            person.status = "skipped"
            person.reasons = ["nothing the run wrote can be restored"]
            continue
        try:
            with state.locks.held([pid], wait_s=service.settings.lock_wait_s):
                _restore_one(service, person, report)
        except LockBusyError as exc:
            person.status, person.reasons = "busy", [str(exc)]
            continue
        if person.status == "restored":
            outcome = service.sync_one(pid, report.rollback_run)
            person.reasons.append(f"then synced: {outcome.disposition.value} ({outcome.detail})")
    return report


def _restore_one(service: SyncService, person: PersonRollback, report: RollbackReport) -> None:
    changed = _changed_since(service, person.restores)
    if changed:
        person.status, person.reasons = "skipped", changed
        return
    if report.dry_run:
        return
    entries: list[AuditEntry] = []
    for side in ("salesforce", "hubspot"):
        mine = [r for r in person.restores if r.side == side]
        for obj in sorted({r.object for r in mine}):
            ops = _ops(side, [r for r in mine if r.object == obj])
            port = service.sf if side == "salesforce" else service.hs
            result = port.apply(ops)
            for op in ops:
                got = result[op.key]
                if not got.ok:
                    person.status = "failed"
                    person.reasons.append(f"{side} {got.state.value} {got.code or ''}: {got.message}")
                    continue
                for name, value in op.values.items():
                    was = next(
                        r for r in mine if r.object == obj and r.record == op.record_id and r.field == name
                    )
                    entries.append(
                        AuditEntry(
                            report.rollback_run.id,
                            report.rollback_run.kind,
                            person.person,
                            side,
                            obj,
                            op.record_id or "",
                            name,
                            was.run_wrote,
                            value or None,
                            f"rollback|{report.run_id}|restores the value before run {report.run_id}",
                            op.kind,
                        )
                    )
    service.state.audit.append(entries)
    if person.status != "failed":
        person.status = "restored"


def _ops(side: str, restores: list[Restore]) -> list[WriteOp]:
    ops: list[WriteOp] = []
    for record in sorted({r.record for r in restores}):
        values: dict[str, str | None] = {}
        for r in restores:
            if r.record != record:
                continue
            if side == "hubspot" and r.field == STAGE_PROPERTY and r.value:
                ops.append(
                    WriteOp(f"{record}#move", "move_back", r.object, {STAGE_PROPERTY: r.value}, record)
                )
                continue
            values[r.field] = r.value if r.value is not None else ("" if side == "hubspot" else None)
        if values:
            ops.append(WriteOp(record, "update", restores[0].object, values, record))
    return ops


def _changed_since(service: SyncService, restores: list[Restore]) -> list[str]:
    """Fields whose current CRM value is no longer what the run wrote (someone edited them)."""
    changed: list[str] = []
    for side in ("salesforce", "hubspot"):
        mine = [r for r in restores if r.side == side]
        for obj in sorted({r.object for r in mine}):
            wanted = [r for r in mine if r.object == obj]
            port = service.sf if side == "salesforce" else service.hs
            got = port.fetch(obj, sorted({r.record for r in wanted}), sorted({r.field for r in wanted}))
            for r in wanted:
                row = got.records.get(r.record)
                if row is None:
                    changed.append(f"{side} {obj} {r.record} is gone")
                    continue
                values = (row.get("properties") or {}) if side == "hubspot" else row
                now = values.get(r.field)
                if (str(now) if now not in (None, "") else None) != r.run_wrote:
                    changed.append(f"{side} {r.field} is now {now!r}, the run wrote {r.run_wrote!r}")
    return changed
