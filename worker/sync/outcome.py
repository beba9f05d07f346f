"""What a sync run answers, per record key, for the task layer to act on.

``done`` keys are finished (their dirty-set lease can be dropped): synced, dead-lettered, skipped or
invalid. ``again`` keys go back to the dirty set: ``retry`` (a transient failure; retry with backoff,
then dead-letter through ``SyncService.give_up``), ``busy`` (another worker holds the person) and
``paused`` (a CRM's quota or credentials stopped the work: ``paused`` names the CRM and why; the
service has already recorded the pause in Redis, so every worker stops calling that CRM until it
expires).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from worker.crm.port import Stop
from worker.plan.model import Plan


@dataclass(frozen=True)
class Run:
    """Who asked for a sync: the run id goes into every audit entry and dead letter."""

    id: str
    kind: str  # poll | webhook | resync | backfill | demo | test

    @classmethod
    def new(cls, kind: str) -> Run:
        return cls(f"{kind}-{uuid.uuid4().hex[:12]}", kind)


class Disposition(StrEnum):
    SYNCED = "synced"  # the plan's writes were applied (or there were none) and the base stored
    DEAD_LETTERED = "dead_lettered"  # a CRM rejected a write (or a duplicate was found): see dead letters
    SKIPPED = "skipped"  # nothing to sync (both records gone)
    INVALID = "invalid"  # not a record key
    RETRY = "retry"  # a transient failure or an ambiguous outcome: sync again later
    BUSY = "busy"  # another worker holds the person's lock
    PAUSED = "paused"  # a CRM is paused (quota, credentials)
    PLANNED = "planned"  # a dry run: planned under the person's lock, nothing written or stored


DONE = frozenset(
    {
        Disposition.SYNCED,
        Disposition.DEAD_LETTERED,
        Disposition.SKIPPED,
        Disposition.INVALID,
        Disposition.PLANNED,
    }
)


@dataclass(frozen=True)
class KeyOutcome:
    key: str
    disposition: Disposition
    person: str | None = None
    writes: int = 0  # writes applied for the person in this run (creates, updates, moves, link-backs)
    detail: str = ""
    plan: Plan | None = None  # what was planned for the person (None when it never got that far)


@dataclass
class BatchOutcome:
    run: Run
    keys: dict[str, KeyOutcome] = field(default_factory=dict)
    paused: dict[Literal["salesforce", "hubspot"], Stop] = field(default_factory=dict)  # CRM → why
    api_calls: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: KeyOutcome) -> None:
        self.keys[outcome.key] = outcome

    def keys_in(self, *states: Disposition) -> list[str]:
        return [k for k, o in self.keys.items() if o.disposition in states]

    @property
    def done(self) -> list[str]:
        return [k for k, o in self.keys.items() if o.disposition in DONE]

    @property
    def again(self) -> list[str]:
        return [k for k, o in self.keys.items() if o.disposition not in DONE]

    @property
    def writes(self) -> int:
        """Writes applied by this run (a person named by several keys is counted once)."""
        seen: dict[str, int] = {}
        for o in self.keys.values():
            seen[o.person or o.key] = o.writes
        return sum(seen.values())
