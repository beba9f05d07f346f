"""From the dirty set to the sync service and back: what one sync task does, and how many tasks to send.

``drain`` claims a batch of dirty keys with a lease (a killed worker loses nothing: the lease expires
and the keys return), calls ``SyncService.sync_batch`` and settles every key by its disposition:
- done (synced, dead-lettered, skipped, invalid): the lease is dropped;
- retry: the key stays leased for a backoff (``retry_backoff_seconds`` doubling, capped), after which
  the next claim re-queues it; past ``max_attempts`` claims the service dead-letters it (``give_up``).
  Attempts are counted per key at claim time, so a person whose sync kills the worker every time is
  dead-lettered too instead of looping;
- busy (another worker holds the person) and paused: released at once, and the attempt is taken back.
It repeats until the set is empty, a CRM is paused, a batch finishes nothing (all busy or retrying:
no hot loop) or ``budget_s`` is spent (a bounded task, so a warm shutdown never waits long).
``waiting`` tells the dispatcher how much work there is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from worker.state.dirty import Claim, DirtySet
from worker.state.runtime import TaskAttempts
from worker.sync import BatchOutcome, Disposition, Run, SyncService

DIRTY_TYPES = (("salesforce", "Lead"), ("salesforce", "Contact"), ("hubspot", "contacts"))
_SHORT = {"salesforce": "sf", "hubspot": "hs"}


@dataclass(frozen=True)
class DrainPolicy:
    batch_size: int = 50
    lease_s: float = 600.0
    max_attempts: int = 5
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    budget_s: float = 30.0


@dataclass
class DrainReport:
    batches: int = 0
    keys: int = 0
    writes: int = 0
    by_disposition: dict[str, int] = field(default_factory=dict)
    dead_lettered_after_retries: int = 0
    paused: dict[str, str] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    # the fewest calls the batches needed (what the benchmark holds ``api_calls`` against): a batch that
    # wrote reads both CRMs once and writes each CRM it wrote once; one that wrote nothing (its people in
    # agreement: the echoes of earlier writes) reads once each CRM its keys name (a signal carries ids,
    # not values); one that synced nobody (all busy or paused) needed none
    least_calls: int = 0

    def add(self, outcome: BatchOutcome) -> None:
        self.batches += 1
        for side, n in outcome.api_calls.items():
            self.api_calls[side] = self.api_calls.get(side, 0) + n
        written = {w.side for o in outcome.keys.values() if o.writes and o.plan for w in o.plan.writes}
        synced = [k for k, o in outcome.keys.items() if o.disposition is Disposition.SYNCED]
        signalled = {k.split(":", 1)[0] for k in synced}
        self.least_calls += 2 + len(written) if written else len(signalled)
        for o in outcome.keys.values():
            self.keys += 1
            self.writes += o.writes
            self.by_disposition[o.disposition.value] = self.by_disposition.get(o.disposition.value, 0) + 1
        self.paused.update({crm: str(stop) for crm, stop in outcome.paused.items()})


def record_key(crm: str, object_type: str, record_id: str) -> str:
    return f"{_SHORT[crm]}:{object_type}:{record_id}"


def waiting(dirty: Callable[[str], DirtySet]) -> int:
    """Keys waiting in every dirty set, after moving expired leases back (so none is stranded)."""
    total = 0
    for crm, object_type in DIRTY_TYPES:
        d = dirty(crm)
        d.requeue_expired(object_type)
        total += d.size(object_type)
    return total


def in_flight(dirty: Callable[[str], DirtySet]) -> int:
    """Keys waiting or claimed (leased) right now: 0 means the daemon has nothing left to do."""
    return sum(dirty(crm).size(o) + len(dirty(crm).leased(o)) for crm, o in DIRTY_TYPES)


def _claim(dirty: Callable[[str], DirtySet], policy: DrainPolicy) -> list[Claim]:
    claims: list[Claim] = []
    room = policy.batch_size
    for crm, object_type in DIRTY_TYPES:
        if room <= 0:
            break
        claim = dirty(crm).claim(object_type, room, lease_s=policy.lease_s)
        if claim.ids:
            claims.append(claim)
            room -= len(claim.ids)
    return claims


def drain(
    service: SyncService,
    dirty: Callable[[str], DirtySet],
    attempts: TaskAttempts,
    run: Run,
    policy: DrainPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> DrainReport:
    report = DrainReport()
    deadline = clock() + policy.budget_s
    while clock() < deadline:
        claims = _claim(dirty, policy)
        if not claims:
            break
        keys = [record_key(c.crm, c.object_type, i) for c in claims for i in c.ids]
        try:
            outcome = service.sync_batch(keys, run)
        except BaseException:
            # a time limit, a shutdown or a Redis failure mid-batch: the keys go back now instead of
            # waiting out their lease (writes are absolute, so syncing them again is harmless)
            for claim in claims:
                with contextlib.suppress(Exception):
                    dirty(claim.crm).release(claim)
            raise
        report.add(outcome)
        _settle(service, dirty, attempts, run, policy, claims, outcome, report)
        if outcome.paused or not outcome.done:
            break  # paused, or nothing finished (all busy or retrying): the next dispatch tries again
    return report


def _settle(
    service: SyncService,
    dirty: Callable[[str], DirtySet],
    attempts: TaskAttempts,
    run: Run,
    policy: DrainPolicy,
    claims: Sequence[Claim],
    outcome: BatchOutcome,
    report: DrainReport,
) -> None:
    keys = [record_key(c.crm, c.object_type, i) for c in claims for i in c.ids]
    tries = attempts.begin_many([f"key:{k}" for k in keys])
    done: list[str] = []
    back: list[str] = []
    untried: list[str] = []
    retry_by_attempt: dict[int, list[str]] = {}
    for k in keys:
        o = outcome.keys.get(k)
        disposition = o.disposition if o is not None else Disposition.RETRY
        if disposition in (Disposition.BUSY, Disposition.PAUSED):
            back.append(k)
            untried.append(f"key:{k}")
        elif disposition is Disposition.RETRY:
            n = tries[f"key:{k}"]
            if n >= policy.max_attempts:
                detail = o.detail if o is not None else "no outcome"
                service.give_up([k], run, f"gave up after {n} attempts: {detail}")
                report.dead_lettered_after_retries += 1
                done.append(k)
            else:
                retry_by_attempt.setdefault(n, []).append(k)
        else:
            done.append(k)
    attempts.undo_many(untried)
    attempts.done_many([f"key:{k}" for k in done])
    for claim in claims:
        mine = {record_key(claim.crm, claim.object_type, i): i for i in claim.ids}
        d = dirty(claim.crm)
        d.finish(claim, [mine[k] for k in done if k in mine])
        d.release(claim, [mine[k] for k in back if k in mine])
        for n, ks in retry_by_attempt.items():
            ids = tuple(mine[k] for k in ks if k in mine)
            if ids:
                wait = min(policy.backoff_max_s, policy.backoff_s * 2 ** (n - 1))
                # keep them leased for the backoff: the next claim after it re-queues them
                d.extend(Claim(claim.crm, claim.object_type, ids, claim.deadline_ms), lease_s=wait)
