"""The audit stream for people: filters (person, run, field, rule, side, time range) and exports
(JSONL, CSV) over ``worker.state.audit``."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from worker.errors import InputError
from worker.state.audit import AuditEntry
from worker.state.store import State

COLUMNS = (
    "id",
    "at",
    "run",
    "run_kind",
    "person",
    "side",
    "object",
    "record",
    "field",
    "before",
    "after",
    "op",
    "cause",
)
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, *, now: datetime | None = None) -> int:
    """``2026-11-30``, ``2026-11-30T14:00:00Z`` (UTC unless an offset is given) or a duration back
    from now (``90m``, ``2h``, ``7d``) → epoch ms."""
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        back = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return int(((now or datetime.now(UTC)) - back).timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{value[:40]!r} is not a time: use a date (2026-11-30), an ISO time (2026-11-30T14:00:00Z) "
            "or a duration back from now (90m, 2h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def cause_parts(cause: str) -> tuple[str, str, str]:
    """The plan's cause as stored (``kind|ref|detail``)."""
    kind, _, rest = cause.partition("|")
    ref, _, detail = rest.partition("|")
    return kind, ref, detail


@dataclass(frozen=True)
class AuditFilter:
    person: str | None = None  # a person id or any of the person's record keys (resolved by ``select``)
    run: str | None = None
    field: str | None = None  # the CRM field name (``Status``, ``lifecyclestage``) or a map field id
    rule: str | None = None  # an automation rule id (causes of kind ``rule``)
    side: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def matches(self, e: AuditEntry, field_names: frozenset[str] = frozenset()) -> bool:
        if self.field is not None and e.field != self.field and e.field not in field_names:
            return False
        if self.side is not None and e.side != self.side:
            return False
        if self.rule is not None:
            kind, ref, _ = cause_parts(e.cause)
            if (kind, ref) != ("rule", self.rule):
                return False
        return True


def select(
    state: State, flt: AuditFilter, *, field_names: frozenset[str] = frozenset(), limit: int | None = None
) -> Iterator[AuditEntry]:
    """Oldest first. ``field_names``: the CRM names of a map field when ``flt.field`` is a map id."""
    person = flt.person
    if person is not None:
        person = state.links.person_of([person]).get(person, person)
    n = 0
    for e in state.audit.entries(run=flt.run, person=person, since_ms=flt.since_ms, until_ms=flt.until_ms):
        if flt.matches(e, field_names):
            yield e
            n += 1
            if limit is not None and n >= limit:
                return


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """An audit entry for ``--json`` and exports (stable names; ``at`` in epoch ms; blank is null)."""
    return {
        "id": entry.entry_id,
        "at": entry.at_ms,
        "run": entry.run,
        "run_kind": entry.run_kind,
        "person": entry.person,
        "side": entry.side,
        "object": entry.object,
        "record": entry.record,
        "field": entry.field,
        "before": entry.before,
        "after": entry.after,
        "op": entry.op,
        "cause": entry.cause,
    }


def write_jsonl(entries: Iterable[AuditEntry], out: TextIO) -> int:
    n = 0
    for e in entries:
        out.write(json.dumps(entry_json(e), sort_keys=True) + "\n")
        n += 1
    return n


def write_csv(entries: Iterable[AuditEntry], out: TextIO) -> int:
    """CSV with a header; the time as ISO 8601 UTC next to nothing else changed (blank is empty)."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for e in entries:
        row = entry_json(e)
        row["at"] = datetime.fromtimestamp(e.at_ms / 1000, UTC).isoformat(timespec="milliseconds")
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
        n += 1
    return n
