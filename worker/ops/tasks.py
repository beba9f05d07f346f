"""The backfill's Celery tasks (queue ``backfill``): thin wrappers over ``worker.ops.backfill`` on the
daemon's task base class (attempt counting, retries, quota pauses: ``worker.tasks.CrmSyncTask``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from worker.celery_app import app
from worker.errors import RetriableError
from worker.logs import bound
from worker.ops import backfill as bf
from worker.sync import Disposition
from worker.tasks import CrmSyncTask, runtime

log = logging.getLogger("crmsync.backfill")
QUEUE = "backfill"
IN_CHUNK_RETRIES = 5


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
    bf.enumerate_scope(rt.service, store, bid, lambda n: send_chunk(bid, n))
    return {"backfill": bid, "state": store.state_of(bid)}


@app.task(name="crmsync.backfill_chunk", base=CrmSyncTask, bind=True)  # type: ignore[untyped-decorator]
def backfill_chunk(self: CrmSyncTask, bid: str, n: int) -> dict[str, Any]:
    """Sync one chunk; keys answered busy/retry are tried again a few times, then dead-lettered (an
    operator resyncs them); a paused CRM retries the whole chunk later (nothing counted twice)."""
    with bound(run_id=bid):
        return _chunk(bid, n)


def _chunk(bid: str, n: int) -> dict[str, Any]:
    rt = runtime()
    store = bf.BackfillStore(rt.redis)
    got = store.spec_and_state(bid)
    if got is None or got[1] not in bf.RUNNING or store.chunk_done(bid, n):
        store.maybe_finish(bid)
        return {"backfill": bid, "chunk": n, "skipped": True}
    b = bf.Backfill(bid, got[0], got[1])
    pending = store.chunk_keys(bid, n)
    total: bf.ChunkResult | None = None
    planned: list[str] = []
    # a person whose lock a killed worker still holds is busy until the lock expires: wait that out
    deadline = time.monotonic() + rt.settings.sync_settings.lock_ttl_s + 5
    failures = 0
    while True:
        result, lines, again = bf.run_chunk(rt.service, b, pending)
        total, planned = bf.merge_results(total, result), planned + lines
        if not again:
            break
        paused = [crm for crm in ("salesforce", "hubspot") if rt.state.pauses.paused(crm)]
        if paused:
            wait = max(rt.state.pauses.remaining_s(crm) for crm in paused)
            raise RetriableError(f"backfill chunk {n}: {', '.join(paused)} paused", wait_seconds=wait)
        failures += any(d is not Disposition.BUSY for d in again.values())
        pending = list(again)
        if failures >= IN_CHUNK_RETRIES or time.monotonic() > deadline:
            why = f"backfill chunk {n}: not synced after {failures} transient failure(s) / lock waits"
            rt.service.give_up(pending, b.run, why)
            gone = len(pending)
            total = bf.merge_results(total, bf.ChunkResult(gone, 0, gone, {"dead_lettered": gone}, {}, {}))
            break
        time.sleep(min(0.25 * 2 ** min(failures, 4), 3.0) if failures else 1.0)
    assert total is not None
    store.finish_chunk(bid, n, total, planned)
    store.maybe_finish(bid)
    return {"backfill": bid, "chunk": n, "people": total.people, "writes": total.writes}
