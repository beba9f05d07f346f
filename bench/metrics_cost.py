"""Benchmark: what the workers' metrics (``worker.state.metrics``) cost the sync.

1. Redis round trips per sync batch through the sync service (both in-process sandboxes, a real Redis),
   with every person marked dirty first (so each write is timed): N leads met for the first time,
   then their Status changed. Run it on a tree without the metrics (``--sync-only``) to compare.
2. The metrics' own work per batch of ``--batch`` people, medians over real Redis: taking the
   first-seen marks (one MULTI/EXEC round trip), building the counters queued on the audit's pipeline
   (no round trip of their own; and, for scale, the same counters sent alone), and marking ids dirty
   (SADD + ZADD NX + HINCRBY in one pipeline, beside the plain SADD it replaced). Each is printed with
   its ratio to 1 ms per batch, the budget: a batch makes at least two CRM HTTP calls of tens of
   milliseconds. A loaded machine inflates every figure.

    .venv/bin/python bench/metrics_cost.py [--people 500] [--batch 50] [--redis redis://127.0.0.1:6379/2]

The Redis database given is flushed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.connection import Connection

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.sync import Run

BUDGET_S = 0.001
_sent = 0
_send = Connection.send_packed_command


def _counting(self: Connection, command: Any, check_health: bool = True) -> None:
    global _sent
    _sent += 1
    _send(self, command, check_health)


def sync_round_trips(people: int, batch: int, url: str) -> None:
    from sync_service import service_for  # the sibling script (bench/ is on sys.path when run)

    global _sent
    r = redis.Redis.from_url(url)
    r.flushdb()
    with SalesforceSandbox() as sf_box, HubSpotSandbox() as hs_box:
        hs_box.configure(tier=TIERS["unlimited"])
        org = sf_box.org
        fields = {"Company": "C", "Status": "Working"}
        leads = [
            org.create("Lead", {"LastName": f"P{i}", "Email": f"p{i}@example.com", **fields}, org.admin_id)
            for i in range(people)
        ]
        service = service_for(sf_box, hs_box, r)
        service.sf.connection.client()
        keys = [f"sf:Lead:{lead}" for lead in leads]
        dirty = service.state.dirty("salesforce")
        Connection.send_packed_command = _counting  # type: ignore[method-assign]
        try:
            for label, change in (("first sight", None), ("status changed", "Meeting Set")):
                if change is not None:
                    for lead in leads:
                        org.update("Lead", lead, {"Status": change}, org.admin_id)
                dirty.add("Lead", leads)
                _sent = 0
                batches = 0
                for i in range(0, len(keys), batch):
                    service.sync_batch(keys[i : i + batch], Run.new("bench"))
                    batches += 1
                print(f"sync {label:<15} {_sent / batches:6.1f} Redis round trips per batch of {batch}")
        finally:
            Connection.send_packed_command = _send  # type: ignore[method-assign]
    r.flushdb()


def timed(fn: Callable[[], object], before: Callable[[], object] | None = None, rounds: int = 300) -> float:
    """Median seconds of ``fn`` (``before`` runs first each round, untimed)."""
    samples = []
    for _ in range(rounds):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def metric_ops(batch: int, url: str) -> None:
    from worker.state import keys
    from worker.state.dirty import DirtySet, take_first_seen
    from worker.state.metrics import Tally

    r = redis.Redis.from_url(url)
    r.flushdb()
    ids = [f"00Q5g{i:013d}" for i in range(batch)]
    marks = [("salesforce", "Lead", i) for i in ids]
    dirty = DirtySet(r, "salesforce")

    def tally() -> Tally:  # a batch in which every person got one timed HubSpot update
        t = Tally()
        for _ in ids:
            t.inc("writes", "hubspot", "update")
            t.observe_latency("hubspot", 1.5)
        t.inc("retries", "hubspot", "RATE_LIMITS", n=2)
        return t

    def queued() -> None:
        tally().into(r.pipeline(transaction=False))  # what the audit's pipeline carries more

    def alone() -> None:
        pipe = r.pipeline(transaction=False)
        tally().into(pipe)
        pipe.execute()

    rows = [
        (
            "take the first-seen marks (1 round trip)",
            timed(lambda: take_first_seen(r, marks), lambda: dirty.add("Lead", ids)),
        ),
        ("counters queued on the audit pipeline (CPU)", timed(queued)),
        ("the same counters sent alone (1 round trip)", timed(alone)),
        ("mark dirty: SADD + ZADD NX + HINCRBY pipelined", timed(lambda: dirty.add("Lead", ids))),
        ("mark dirty before: plain SADD", timed(lambda: r.sadd(keys.dirty("salesforce", "Lead"), *ids))),
    ]
    for label, seconds in rows:
        print(
            f"per batch of {batch}: {label:<48} {seconds * 1e6:8.0f} us  "
            f"(limit {BUDGET_S * 1e6:.0f} us: {seconds / BUDGET_S:.2f})"
        )
    r.flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--sync-only", action="store_true", help="only the round trips (any tree)")
    parser.add_argument(
        "--redis", default=os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args = parser.parse_args()
    sync_round_trips(args.people, args.batch, args.redis)
    if not args.sync_only:
        metric_ops(args.batch, args.redis)


if __name__ == "__main__":
    main()
