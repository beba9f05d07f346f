"""Celery tasks: thin. Each decodes its arguments, calls a domain function, and returns.

Retry bookkeeping, pauses and giving up live in one place, ``CrmSyncTask``:
- every delivery increments the task's own attempt counter in Redis (redeliveries after a killed worker
  included, which the broker does not count); past ``max_attempts`` the task gives up (``give_up``);
- ``RetriableError`` → ``retry`` with a short exponential countdown (capped, never a long ETA);
- ``QuotaExhaustedError`` → the CRM is paused (a Redis key with a TTL) and the task ends: polls and the
  dispatcher skip a paused CRM until the key expires, so nothing spins;
- ``FatalError`` / ``SessionExpiredError`` out of a poll (credentials refused, a token refresh or a
  re-login that failed) → the same pause for ``fatal_pause_s``, as the sync service pauses on them: the
  next polls do not call the CRM (nor its token endpoint) again until it expires;
- ``SoftTimeLimitExceeded`` → the task ends; what it had claimed returns to the dirty set.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from worker.capture import HubSpotCapture, HubSpotEchoes, PollReport, SalesforceCapture
from worker.celery_app import app
from worker.drain import DrainPolicy, drain, waiting
from worker.errors import FatalError, QuotaExhaustedError, RetriableError, SessionExpiredError
from worker.logs import bound
from worker.mapping import CompiledMap
from worker.settings import Settings
from worker.state.cursors import CursorStore
from worker.state.dirty import DirtySet
from worker.state.ops import PollLog
from worker.state.pauses import PauseStore
from worker.state.runtime import RunLock, Slots, TaskAttempts
from worker.state.store import State
from worker.sync import Run, SyncService

log = logging.getLogger("crmsync.tasks")
CRMS = ("salesforce", "hubspot")


@dataclass
class Runtime:
    """Per-process connections, built on first use in the process that runs tasks (after the fork)."""

    settings: Settings

    @cached_property
    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.settings.redis, health_check_interval=30)

    @cached_property
    def cursors(self) -> CursorStore:
        return CursorStore(self.redis)

    @cached_property
    def pauses(self) -> PauseStore:
        return PauseStore(self.redis)

    @cached_property
    def attempts(self) -> TaskAttempts:
        return TaskAttempts(self.redis)

    @cached_property
    def run_lock(self) -> RunLock:
        return RunLock(self.redis)

    @cached_property
    def slots(self) -> Slots:
        # a slot outlives its task only if the task vanished without a trace (then it frees itself)
        return Slots(self.redis, "sync", self.settings.sync_fanout, self.settings.visibility_timeout)

    def dirty(self, crm: str) -> DirtySet:
        return DirtySet(self.redis, crm)

    @cached_property
    def salesforce(self) -> Any:
        from worker.crm.salesforce.adapter import SalesforceAdapter
        from worker.state.api_usage import ApiUsageStore

        return SalesforceAdapter(self.settings.salesforce_settings, usage_store=ApiUsageStore(self.redis))

    @cached_property
    def hubspot(self) -> Any:
        from worker.crm.hubspot.adapter import HubSpotAdapter
        from worker.state.delivered import RedisDelivered
        from worker.state.ratelimit import RedisRateLimiter

        hs = self.settings.hubspot_settings
        limiter = RedisRateLimiter(self.redis, "hubspot", hs.rate_budget())
        return HubSpotAdapter(hs, limiter=limiter, delivered=RedisDelivered(self.redis, "poll"))

    @cached_property
    def state(self) -> State:
        s = self.settings
        return State.connect(
            self.redis,
            lock_ttl_s=s.sync_settings.lock_ttl_s,
            audit_max_len=s.audit_max_entries,
            audit_max_age_ms=int(s.audit_max_age_days * 86_400_000),
        )

    @cached_property
    def cmap(self) -> CompiledMap:
        from worker.mapping import load_map

        return load_map(self.settings.map_path)

    @cached_property
    def service(self) -> SyncService:
        return SyncService(
            cmap=self.cmap,
            salesforce=self.salesforce,
            hubspot=self.hubspot,
            state=self.state,
            settings=self.settings.sync_settings,
        )

    @cached_property
    def drain_policy(self) -> DrainPolicy:
        s = self.settings
        return DrainPolicy(
            batch_size=s.sync_batch_size,
            lease_s=s.sync_lease_seconds,
            max_attempts=s.max_attempts,
            backoff_s=s.retry_backoff_seconds,
            backoff_max_s=s.retry_backoff_max_seconds,
            budget_s=s.sync_drain_seconds,
        )

    def capture(self, crm: str) -> SalesforceCapture | HubSpotCapture:
        if crm == "salesforce":
            return SalesforceCapture(self.salesforce, self.cursors, self.dirty("salesforce"))
        # deals as facts change a person without changing its contact: then every contact row is queued
        deal_facts = self.settings.sync_settings.hubspot_deal_facts
        echoes = None if deal_facts else HubSpotEchoes(self.state, self.cmap)
        return HubSpotCapture(self.hubspot, self.cursors, self.dirty("hubspot"), echoes=echoes)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(app.conf.crmsync_settings)
        return _runtime


class CrmSyncTask(Task):  # type: ignore[misc]
    """The one layer for attempts, retries, pauses and time limits (see the module docstring)."""

    abstract = True
    #: which CRM a QuotaExhaustedError of this task pauses (None: the error says, or nothing to pause)
    crm: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rt = runtime()
        task_id = self.request.id or "eager"
        attempt = rt.attempts.begin(task_id)
        if attempt > rt.settings.max_attempts:
            log.error("%s %s: delivered %d times; giving up", self.name, task_id, attempt - 1)
            rt.attempts.done(task_id)
            self.give_up(args, kwargs, f"gave up after {attempt - 1} attempts")
            return None
        try:
            result = super().__call__(*args, **kwargs)
        except QuotaExhaustedError as exc:
            crm = self.crm or "salesforce"
            pause_s = rt.settings.sync_settings.quota_pause_s
            rt.pauses.pause(crm, f"{exc.code or 'QUOTA'}: {exc}", seconds=pause_s)
            log.warning("%s: %s quota exhausted; paused for %.0fs", self.name, crm, pause_s)
            rt.attempts.done(task_id)
            return None
        except (FatalError, SessionExpiredError) as exc:
            if self.crm is None:
                raise
            pause_s = rt.settings.sync_settings.fatal_pause_s
            rt.pauses.pause(self.crm, f"{exc.code or 'FATAL'}: {exc}", seconds=pause_s)
            log.warning("%s: %s cannot be used (%s); paused for %.0fs", self.name, self.crm, exc, pause_s)
            rt.attempts.done(task_id)
            return None
        except RetriableError as exc:
            countdown = min(
                rt.settings.retry_backoff_max_seconds, rt.settings.retry_backoff_seconds * 2 ** (attempt - 1)
            )
            if exc.wait_seconds:
                countdown = min(rt.settings.retry_backoff_max_seconds, max(countdown, exc.wait_seconds))
            log.warning(
                "%s: transient failure (%s); retry %d in %.1fs", self.name, exc.code, attempt, countdown
            )
            raise self.retry(exc=exc, countdown=countdown, max_retries=None) from None
        except SoftTimeLimitExceeded:
            log.warning(
                "%s %s: soft time limit; ending, claimed work returns to the queue", self.name, task_id
            )
            rt.attempts.done(task_id)
            return None
        rt.attempts.done(task_id)
        return result

    def give_up(self, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str) -> None:
        """What to do when a task has been delivered too often: by default nothing more (a poll or a
        dispatch comes back on the next tick); the sync task dead-letters its batch."""


def _poll(crm: str, task_id: str | None) -> dict[str, Any]:
    rt = runtime()
    paused = rt.pauses.paused(crm)
    if paused is not None:
        return {"crm": crm, "paused": paused, "resumes_in_s": round(rt.pauses.remaining_s(crm), 1)}
    with rt.run_lock.hold(f"poll:{crm}", rt.settings.task_time_limit, token=task_id) as mine:
        if not mine:
            return {"crm": crm, "skipped": "another poll of this CRM is running"}
        report: PollReport = rt.capture(crm).poll()
    log.info(
        "poll %s: %s changed, %d people marked, %d echoes not queued",
        crm,
        report.seen,
        report.marked,
        report.echoes,
    )
    result = {"crm": crm, "seen": report.seen, "marked": report.marked, "echoes": report.echoes}
    PollLog(rt.redis).record(crm, result)  # for `crmsync status` (worker/ops)
    return result


@app.task(name="crmsync.poll_salesforce", base=CrmSyncTask, crm="salesforce", bind=True)  # type: ignore[untyped-decorator]
def poll_salesforce(self: CrmSyncTask) -> dict[str, Any]:
    return _poll("salesforce", self.request.id)


@app.task(name="crmsync.poll_hubspot", base=CrmSyncTask, crm="hubspot", bind=True)  # type: ignore[untyped-decorator]
def poll_hubspot(self: CrmSyncTask) -> dict[str, Any]:
    return _poll("hubspot", self.request.id)


@app.task(name="crmsync.dispatch", base=CrmSyncTask, bind=True)  # type: ignore[untyped-decorator]
def dispatch(self: CrmSyncTask) -> dict[str, Any]:
    """Send sync tasks for the waiting keys: one per batch, into free slots only, so the broker never
    holds more than ``sync_fanout`` sync messages. Nothing is sent while a CRM is paused (a person's sync
    reads both sides; the pause key's expiry is the resume)."""
    rt = runtime()
    paused = {crm: why for crm in CRMS if (why := rt.pauses.paused(crm)) is not None}
    if paused:
        return {"paused": paused}
    pending = waiting(rt.dirty)
    wanted = min(rt.settings.sync_fanout, -(-pending // rt.settings.sync_batch_size))
    sent = 0
    for _ in range(wanted):
        slot = rt.slots.claim()
        if slot is None:
            break
        sync.apply_async(args=[slot])
        sent += 1
    return {"waiting": pending, "sent": sent}


class SyncTask(CrmSyncTask):
    """A sync task delivered too often gives up; its slot is freed (its keys' leases expire by themselves
    and each key's own attempt count dead-letters a person that keeps failing)."""

    abstract = True

    def give_up(self, args: tuple[Any, ...], kwargs: dict[str, Any], reason: str) -> None:
        slot = kwargs.get("slot", args[0] if args else None)
        if isinstance(slot, int):
            runtime().slots.free(slot)


@app.task(name="crmsync.sync", base=SyncTask, bind=True)  # type: ignore[untyped-decorator]
def sync(self: CrmSyncTask, slot: int | None = None) -> dict[str, Any]:
    """Drain the dirty set through the sync service for a bounded time (``worker.drain``)."""
    rt = runtime()
    run = Run.new("live")
    with bound(run_id=run.id):
        return _sync(rt, run, slot)


def _sync(rt: Runtime, run: Run, slot: int | None) -> dict[str, Any]:
    try:
        report = drain(rt.service, rt.dirty, rt.attempts, run, rt.drain_policy)
    finally:
        if slot is not None:
            rt.slots.free(slot)
    if report.keys:
        log.info(
            "sync: %d people in %d batches, %d writes, %s",
            report.keys,
            report.batches,
            report.writes,
            report.by_disposition,
        )
    return {
        "keys": report.keys,
        "writes": report.writes,
        "outcomes": report.by_disposition,
        "batches": report.batches,
        "api_calls": report.api_calls,
        "least_calls": report.least_calls,
        "paused": report.paused,
    }
