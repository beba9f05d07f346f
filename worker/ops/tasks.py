"""The backfill's Celery tasks (queue ``backfill``): thin wrappers over ``worker.ops.backfill`` on the
daemon's task base class (attempt counting, retries, quota pauses: ``worker.tasks.CrmSyncTask``)."""

from __future__ import annotations

import logging
from typing import Any

from worker.celery_app import app
from worker.ops import backfill as bf
from worker.tasks import CrmSyncTask, runtime

log = logging.getLogger("crmsync.backfill")
QUEUE = "backfill"


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
    rt = runtime()
    store = bf.BackfillStore(rt.redis)
    bf.enumerate_scope(rt.service, store, bid, lambda n: send_chunk(bid, n))
    return {"backfill": bid, "state": store.state_of(bid)}


@app.task(name="crmsync.backfill_chunk", base=CrmSyncTask, bind=True)  # type: ignore[untyped-decorator]
def backfill_chunk(self: CrmSyncTask, bid: str, n: int) -> dict[str, Any]:
    """Sync one chunk (``worker.ops.backfill.process_chunk``); a paused CRM retries it later."""
    rt = runtime()
    total = bf.process_chunk(rt.service, bf.BackfillStore(rt.redis), bid, n)
    if total is None:
        return {"backfill": bid, "chunk": n, "skipped": True}
    return {"backfill": bid, "chunk": n, "people": total.people, "writes": total.writes}
