"""The backfill's Celery tasks (queue ``backfill``): thin wrappers over ``worker.ops.backfill`` on the
daemon's task base class (attempt counting, retries, quota pauses: ``worker.tasks.CrmSyncTask``)."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_received

from worker.celery_app import app
from worker.errors import RetriableError
from worker.logs import bound
from worker.ops import backfill as bf
from worker.ops.backfill_watch import ENUM, Leases, Senders, watch
from worker.tasks import CrmSyncTask, runtime

log = logging.getLogger("crmsync.backfill")
QUEUE = "backfill"


_receipts: dict[str, Any] = {}


@task_received.connect  # type: ignore[untyped-decorator]
def _lease_on_receipt(request: Any = None, **_: Any) -> None:
    """A backfill message is leased as soon as a worker takes it, before a pool process starts it: a
    worker killed with messages taken but not started leaves leases that expire, so the watch resends
    them (the broker would only after its visibility timeout). Runs in the worker's main process."""
    if request is None or request.name not in (backfill_enumerate.name, backfill_chunk.name):
        return
    args = list(request.args or [])
    if not args:
        return
    settings = app.conf.crmsync_settings
    if "redis" not in _receipts:
        import redis

        _receipts["redis"] = redis.Redis.from_url(settings.redis)
    member = ENUM if request.name == backfill_enumerate.name else str(args[1])
    Leases(_receipts["redis"]).renew(str(args[0]), member, settings.backfill_lease_seconds)


def send_enumerate(bid: str, broker: str | None = None) -> None:
    """``broker``: the URL to send through (a command or the web app passes its current settings';
    the app's own was fixed when ``worker.celery_app`` was first imported)."""
    _send(backfill_enumerate, [bid], broker)


def send_chunk(bid: str, n: int, broker: str | None = None) -> None:
    _send(backfill_chunk, [bid, n], broker)


def _send(task: Any, args: list[Any], broker: str | None) -> None:
    if broker is None:
        task.apply_async(args=args, queue=QUEUE)
        return
    with app.connection_for_write(url=broker) as conn:
        task.apply_async(args=args, queue=QUEUE, connection=conn)


@app.task(name="crmsync.backfill", base=CrmSyncTask, bind=True)  # type: ignore[untyped-decorator]
def backfill_enumerate(self: CrmSyncTask, bid: str) -> dict[str, Any]:
    with bound(run_id=bid):  # the backfill's run id (``Backfill.run``) on every line
        return _enumerate(bid)


def _enumerate(bid: str) -> dict[str, Any]:
    rt = runtime()
    store = bf.BackfillStore(rt.redis)
    with Leases(rt.redis).held(bid, ENUM, rt.settings.backfill_lease_seconds, (RetriableError,)):
        bf.enumerate_scope(rt.service, store, bid, lambda n: send_chunk(bid, n))
    return {"backfill": bid, "state": store.state_of(bid)}


@app.task(name="crmsync.backfill_chunk", base=CrmSyncTask, bind=True)  # type: ignore[untyped-decorator]
def backfill_chunk(self: CrmSyncTask, bid: str, n: int) -> dict[str, Any]:
    """Sync one chunk (``worker.ops.backfill.process_chunk``); a paused CRM retries it later."""
    with bound(run_id=bid):
        return _chunk(bid, n)


def _chunk(bid: str, n: int) -> dict[str, Any]:
    rt = runtime()
    with Leases(rt.redis).held(bid, str(n), rt.settings.backfill_lease_seconds, (RetriableError,)):
        total = bf.process_chunk(rt.service, bf.BackfillStore(rt.redis), bid, n)
    if total is None:
        return {"backfill": bid, "chunk": n, "skipped": True}
    return {"backfill": bid, "chunk": n, "people": total.people, "writes": total.writes}


@app.task(name="crmsync.backfill_watch", base=CrmSyncTask, bind=True)  # type: ignore[untyped-decorator]
def backfill_watch(self: CrmSyncTask) -> dict[str, Any]:
    """Re-send backfill work whose worker died (``worker.ops.backfill_watch``)."""
    rt = runtime()
    store = bf.BackfillStore(rt.redis)
    died = f"lost its worker more than {rt.settings.max_attempts} times"
    senders = Senders(
        send_enumerate,
        send_chunk,
        lambda bid, piece: bf.give_up_piece(rt.service, store, bid, piece, died),
    )
    resumed = watch(
        store, Leases(rt.redis), senders, rt.settings.backfill_lease_seconds, rt.settings.max_attempts
    )
    for r in resumed:
        log.warning(
            "backfill %s: resumed %s%d chunk(s) whose worker died; gave up on %s",
            r.backfill,
            "the enumeration and " if r.enumerate else "",
            len(r.chunks),
            r.given_up or "none",
        )
    return {"resumed": {r.backfill: r.chunks for r in resumed}}
