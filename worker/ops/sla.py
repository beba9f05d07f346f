"""``crmsync report sla``: how long people wait after entering MQL for sales' first touch.

Read from the audit stream (``reports.stage_paths`` gives each person's stage history). An *episode*
starts each time a person enters the stage (``mql`` by default; a person recycled and qualified again
starts another). Its first touch is the first audited write, at or after the entry and before the
person leaves the stage, that either

- sets the status (on either side) to a value that is not *open*. The open statuses are the ones the
  map starts people in and the ones its ``call_completed`` rules move people out of (``open`` in the
  default map; ``prospect`` and ``open_not_contacted`` in the waterfall); ``--open-status`` overrides;
- or was caused by a rule reacting to a call or a meeting (``call_completed`` / ``meeting_booked``).

Each episode ends one way: ``touched`` (the wait counts towards the median and 90th percentile),
``waiting`` (still in the stage, untouched: past the threshold it is listed), ``left_untouched``
(moved on without a touch), ``worked_before`` (the status was not open when the person entered) or
``touched_unknown_time`` (no audited touch, but the stored base shows a status that is not open or
a recorded call or meeting — the daemon only audits what it writes). Waits of people still waiting
do not count towards the percentiles. Everything here is pure; the command supplies the owners.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker.errors import InputError
from worker.mapping import CompiledMap
from worker.ops.audit import cause_parts
from worker.ops.reports import stage_paths
from worker.records import Base
from worker.state.audit import AuditEntry

TOUCH_EVENTS = ("call_completed", "meeting_booked")
OUTCOMES = ("touched", "waiting", "left_untouched", "worked_before", "touched_unknown_time")
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str = "--threshold") -> int:
    """``90m``, ``48h``, ``2d``, ``1d12h`` → seconds; anything else is an ``InputError`` naming it."""
    value = text.strip().lower()
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value or sum(int(n) for n, _ in parts) == 0:
        raise InputError(
            f"{option}: {text[:40]!r} is not a duration: use a number and a unit, s, m, h or d "
            "(90m, 48h, 2d, 1d12h), greater than zero"
        )
    return sum(int(n) * _SECONDS[u] for n, u in parts)


def open_statuses(cmap: CompiledMap) -> frozenset[str]:
    """The statuses a person has not been touched in, as the map says: what its ``record_created``
    rules start people in, and what its ``call_completed`` rules move people out of."""
    found: set[str] = set()
    for rule in cmap.rules_by_event.get("record_created", ()):
        found.update(s for s in (rule.default_status, rule.set_status) if s)
    for rule in cmap.rules_by_event.get("call_completed", ()):
        if rule.condition is not None and rule.condition.status_in is not None:
            found.update(rule.condition.status_in)
    return frozenset(found)


@dataclass(frozen=True)
class Episode:
    person: str
    entered_ms: int
    outcome: str  # one of OUTCOMES
    touched_ms: int | None = None
    touch: str = ""  # what the touch was (status change, or the rule and its event)

    def wait_s(self, now_ms: int) -> float:
        end = self.touched_ms if self.touched_ms is not None else now_ms
        return (end - self.entered_ms) / 1000


@dataclass
class _History:
    statuses: list[tuple[int, str | None, str | None]] = field(default_factory=list)  # at, before, after
    touches: list[tuple[int, str]] = field(default_factory=list)


def episodes(
    entries: Iterable[AuditEntry],
    cmap: CompiledMap,
    *,
    stage: str = "mql",
    opened: frozenset[str] | None = None,
    since_ms: int | None = None,
    bases: Callable[[Sequence[str]], Mapping[str, Base]] | None = None,
) -> list[Episode]:
    """Every entry into ``stage`` (since ``since_ms``) and how it ended; ``bases`` reads the stored
    bases of the people still waiting by the audit (for touches the daemon did not write)."""
    if stage not in cmap.stages:
        raise InputError(f"--stage: no stage {stage!r} in map {cmap.name} (stages: {', '.join(cmap.stages)})")
    opened = open_statuses(cmap) if opened is None else opened
    status = cmap.status_field
    names = {"salesforce": status.salesforce, "hubspot": status.hubspot}
    to_canon: dict[str, Mapping[str, str]] = {
        "salesforce": status.sf_to_canon or {},
        "hubspot": status.hs_to_canon or {},
    }
    touch_rules = {r.id: r.event for r in cmap.rules if r.event in TOUCH_EVENTS}
    fields = (cmap.stage_field, status)
    lifecycle = {name for f in fields for name in (f.salesforce, f.hubspot) if name}
    # only stage and status writes and rules' writes matter: the rest (names, emails) is not kept
    wanted = (e for e in entries if e.field in lifecycle or e.cause.startswith("rule|"))
    entries = sorted(wanted, key=lambda e: (e.at_ms, e.entry_id))
    history: dict[str, _History] = defaultdict(_History)
    for e in entries:
        h = history[e.person]
        if e.field == names.get(e.side):
            before = to_canon[e.side].get(e.before) if e.before is not None else None
            after = to_canon[e.side].get(e.after) if e.after is not None else None
            h.statuses.append((e.at_ms, before, after))
            if after is not None and after not in opened:
                h.touches.append((e.at_ms, f"status {before or '—'} → {after} ({e.side})"))
        kind, ref, _ = cause_parts(e.cause)
        if kind == "rule" and ref in touch_rules:
            h.touches.append((e.at_ms, f"rule {ref} ({touch_rules[ref]})"))
    out: list[Episode] = []
    waiting: list[int] = []  # indexes of episodes to check against the stored bases
    for person, path in stage_paths(entries, cmap).items():
        h = history.get(person, _History())
        for i, (at, stage_id) in enumerate(path):
            if stage_id != stage or at == 0 or (since_ms is not None and at < since_ms):
                continue
            left = path[i + 1][0] if i + 1 < len(path) else None
            if _status_at(h.statuses, at) not in (None, *opened):
                out.append(Episode(person, at, "worked_before"))
                continue
            touch = next(
                ((t, what) for t, what in h.touches if t >= at and (left is None or t <= left)), None
            )
            if touch is not None:
                out.append(Episode(person, at, "touched", touch[0], touch[1]))
            elif left is not None:
                out.append(Episode(person, at, "left_untouched"))
            else:
                waiting.append(len(out))
                out.append(Episode(person, at, "waiting"))
    if bases is not None and waiting:
        stored = bases([out[i].person for i in waiting])
        for i in waiting:
            base = stored.get(out[i].person)
            if base is None:
                continue
            now = base.values.get("status")
            if (now is not None and now not in opened) or base.facts.completed_calls or base.facts.meetings:
                out[i] = Episode(out[i].person, out[i].entered_ms, "touched_unknown_time")
    return out


def _status_at(statuses: list[tuple[int, str | None, str | None]], at: int) -> str | None:
    """The status just before ``at``: the last audited value before it, else what the first audited
    change at or after it started from (None when the audit never saw the status)."""
    earlier = [after for t, _, after in statuses if t < at]
    if earlier:
        return earlier[-1]
    later = [before for t, before, _ in statuses if t >= at]
    return later[0] if later else None


def p90(values: Sequence[float]) -> float:
    """The 90th percentile, interpolating linearly between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = 0.9 * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class OwnerRow:
    owner: str
    counts: Mapping[str, int]  # per outcome
    median_hours: float | None
    p90_hours: float | None
    past_threshold: int

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "entered": sum(self.counts.values()),
            **{o: self.counts.get(o, 0) for o in OUTCOMES},
            "median_hours": self.median_hours,
            "p90_hours": self.p90_hours,
            "waiting_past_threshold": self.past_threshold,
        }


def by_owner(
    found: Sequence[Episode], owners: Mapping[str, str], *, now_ms: int, threshold_s: int
) -> list[OwnerRow]:
    """One row per owner (most entries first), then ``all``."""
    groups: dict[str, list[Episode]] = defaultdict(list)
    for ep in found:
        groups[owners.get(ep.person, "—")].append(ep)
    order = sorted(groups, key=lambda o: (-len(groups[o]), o))
    return [_row(o, groups[o], now_ms, threshold_s) for o in order] + [
        _row("all", found, now_ms, threshold_s)
    ]


def _row(owner: str, eps: Sequence[Episode], now_ms: int, threshold_s: int) -> OwnerRow:
    counts: dict[str, int] = defaultdict(int)
    for ep in eps:
        counts[ep.outcome] += 1
    hours = [ep.wait_s(now_ms) / 3600 for ep in eps if ep.outcome == "touched"]
    return OwnerRow(
        owner,
        dict(counts),
        round(statistics.median(hours), 3) if hours else None,
        round(p90(hours), 3) if hours else None,
        sum(1 for ep in eps if ep.outcome == "waiting" and ep.wait_s(now_ms) > threshold_s),
    )


def overdue(found: Sequence[Episode], *, now_ms: int, threshold_s: int) -> list[Episode]:
    """Episodes still waiting past the threshold, longest wait first."""
    late = [ep for ep in found if ep.outcome == "waiting" and ep.wait_s(now_ms) > threshold_s]
    return sorted(late, key=lambda ep: (ep.entered_ms, ep.person))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
