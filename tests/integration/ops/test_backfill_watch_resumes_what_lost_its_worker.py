"""The backfill watch against a real Redis (no CRM, no Celery: the senders record what they were asked
to send): work whose lease expired unfinished is re-sent exactly once even when two watches run at
the same moment; finished or merely queued work is not; a dead enumeration is re-sent with the chunks
it stored but never sent; a piece that lost its worker too often is given up."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from worker.errors import RetriableError
from worker.ops import backfill as bf
from worker.ops.backfill_watch import ENUM, Leases, Resumed, Senders, resume_orphans, watch

pytestmark = pytest.mark.integration
EXPIRED = 0.001  # a lease that runs out at once: its worker renews nothing (it was killed)


class Sent:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enumerations: list[str] = []
        self.chunks: list[tuple[str, int]] = []
        self.given_up: list[tuple[str, str]] = []

    def senders(self) -> Senders:
        def chunk(bid: str, n: int) -> None:
            with self.lock:
                self.chunks.append((bid, n))

        return Senders(self.enumerations.append, chunk, lambda bid, m: self.given_up.append((bid, m)))


def backfill(store: bf.BackfillStore, chunks: int) -> str:
    b = store.create(bf.BackfillSpec(object="Lead"), chunks * 2)
    pages = [[f"sf:Lead:00Q{n:015d}A", f"sf:Lead:00Q{n:015d}B"] for n in range(chunks)]
    assert store.add_chunks(b.id, "salesforce:Lead", pages, "", "END") == list(range(chunks))
    return b.id


def test_two_watches_at_once_resend_each_dead_chunk_exactly_once(redis_client: Any) -> None:
    store, leases = bf.BackfillStore(redis_client), Leases(redis_client)
    for _ in range(10):
        bid = backfill(store, 3)
        store.mark_enumerated(bid)
        leases.renew(bid, "0", EXPIRED)  # its worker died mid-chunk
        leases.renew(bid, "1", EXPIRED)  # its worker died after storing the result
        store.finish_chunk(bid, 1, bf.ChunkResult(2, 0, 0, {"synced": 2}, {}, {}))
        # chunk 2 is queued on the broker: no lease, nothing to resend
        time.sleep(0.01)
        sent, gate = Sent(), threading.Barrier(2)
        results: list[Resumed | None] = []

        def one_watch(
            bid: str = bid, sent: Sent = sent, gate: threading.Barrier = gate, out: list[Any] = results
        ) -> None:
            gate.wait()
            out.append(resume_orphans(store, leases, bid, sent.senders()))

        threads = [threading.Thread(target=one_watch) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sent.chunks == [(bid, 0)] and sent.enumerations == []
        assert sorted(r is None for r in results) == [False, True]  # one claimed, the other found none
        assert redis_client.zcard(f"crmsync:backfill:{bid}:leases") == 0  # the broker's now
        assert watch(store, leases, sent.senders()) == [] and len(sent.chunks) == 1  # nothing more
        got = store.get(bid)
        assert got is not None and got.resumed == 1


def test_a_dead_enumeration_is_resent_with_the_chunks_it_stored_but_never_sent(redis_client: Any) -> None:
    store, leases = bf.BackfillStore(redis_client), Leases(redis_client)
    bid = backfill(store, 4)
    store.mark_sent(bid, 1)  # chunks 0 and 1 reached the broker; the worker died before sending 2 and 3
    leases.renew(bid, ENUM, EXPIRED)
    time.sleep(0.01)
    sent = Sent()
    [resumed] = watch(store, leases, sent.senders())
    assert (resumed.enumerate, resumed.chunks) == (True, [2, 3])
    assert sent.enumerations == [bid] and sent.chunks == [(bid, 2), (bid, 3)]


def test_a_chunk_that_lost_its_worker_too_often_is_given_up(redis_client: Any) -> None:
    store, leases = bf.BackfillStore(redis_client), Leases(redis_client)
    bid = backfill(store, 1)
    sent = Sent()
    for _ in range(3):  # each time it is sent again, started, and its worker dies
        leases.renew(bid, "0", EXPIRED)
        time.sleep(0.01)
        watch(store, leases, sent.senders(), max_resumes=2)
    assert sent.chunks == [(bid, 0), (bid, 0)] and sent.given_up == [(bid, "0")]


def test_a_lease_is_dropped_when_its_work_ends_or_is_retried_and_kept_when_it_failed(
    redis_client: Any,
) -> None:
    leases = Leases(redis_client)
    with leases.held("b", "0", ttl_s=0.3):
        time.sleep(0.5)  # renewed by its heartbeat meanwhile
        assert redis_client.zscore("crmsync:backfill:b:leases", "0") > time.time() * 1000
    assert redis_client.zscore("crmsync:backfill:b:leases", "0") is None
    with pytest.raises(RuntimeError), leases.held("b", "1", ttl_s=60):
        raise RuntimeError("stopped by the time limit")  # unfinished, and no message left
    assert redis_client.zscore("crmsync:backfill:b:leases", "1") is not None
    with pytest.raises(RetriableError), leases.held("b", "2", ttl_s=60, handed_over=(RetriableError,)):
        raise RetriableError("hubspot paused")  # the task layer sends a retry: not the watch's
    assert redis_client.zscore("crmsync:backfill:b:leases", "2") is None
