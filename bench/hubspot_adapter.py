"""Benchmark the HubSpot adapter against the in-process sandbox (real client, real HTTP on loopback).

Run: ``.venv/bin/python bench/hubspot_adapter.py [--records 100000] [--throttled-seconds 40]
[--settings default|zero]``

``--settings default`` (the default) reads with the shipped defaults: window closes 30 s before now,
60 s tolerated index lag (lookback); the adapter runs on the sandbox's clock, which is moved 31 s past
the last seeded change so every record is readable. ``--settings zero`` is margin 0 / lookback 0 (the
figures published before the lookback fix).

Prints, for reading N changed contacts and batch-updating N contacts: records/s and API calls per
record against the minimum (⌈N/200⌉ search pages, ⌈N/100⌉ batch writes; target at most 1.1x); the cost
of a follow-up poll; and a burst of ``--burst`` changes 45..35 s old read by polls 0 s, 61 s and 71 s
later, plus a restarted process sharing the Redis delivered-key memory. Then, with
the sandbox enforcing 190 requests / 10 s, two worker threads share a Redis-backed budget for a
bounded run and the bench prints the share of the ceiling sustained (target ≥ 90 %) and the share of
calls answered 429 (target ≤ 1 %). Needs a Redis (``CRMSYNC_BENCH_REDIS_URL``, default db 14).
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
import uuid
from typing import Any

import redis
from pydantic import SecretStr

from sandbox.hubspot.limits import RateLimitTier
from sandbox.hubspot.models import SYSTEM
from sandbox.hubspot.seed import seed_contacts
from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import Cursor, HubSpotAdapter, HubSpotSettings
from worker.state.delivered import RedisDelivered
from worker.state.ratelimit import RateBudget, RedisRateLimiter

STATUSES = ["OPEN", "IN_PROGRESS", "CONNECTED", "ATTEMPTED_TO_CONTACT"]


MODE = {"default": {}, "zero": {"index_lag_margin_s": 0.0, "lookback_s": 0.0}}


def settings(sb: HubSpotSandbox, mode: str = "default") -> HubSpotSettings:
    return HubSpotSettings(
        base_url=sb.base_url,
        access_token=SecretStr(sb.token),
        backoff_initial_s=0.05,
        **MODE[mode],  # type: ignore[arg-type]
    )


def adapter_for(sb: HubSpotSandbox, mode: str, **kw: Any) -> HubSpotAdapter:
    return HubSpotAdapter(settings(sb, mode), clock=lambda: sb.portal.clock.now_ms() / 1000, **kw)


def poll(adapter: HubSpotAdapter, cursor: Cursor | None) -> tuple[int, Cursor | None, int, float]:
    before = adapter.transport.stats.searches
    t0 = time.perf_counter()
    n = 0
    for page in adapter.changes_since(cursor):
        n += len(page.records)
        cursor = page.cursor
    return n, cursor, adapter.transport.stats.searches - before, time.perf_counter() - t0


def bench_read_and_update(sb: HubSpotSandbox, n: int, mode: str) -> None:
    sb.reset()
    sb.configure(tier="unlimited")
    t0 = time.perf_counter()
    with sb.backend.lock:
        ids = seed_contacts(sb.portal, n)
    print(f"seeded {n:,} contacts in {time.perf_counter() - t0:.1f} s")
    sb.advance_clock(31_000)
    s = settings(sb, mode)
    print(f"settings: index_lag_margin_s={s.index_lag_margin_s:g} lookback_s={s.lookback_s:g}")

    adapter = adapter_for(sb, mode)
    seen, cursor, calls, dt = poll(adapter, None)
    minimum = math.ceil(n / 200)
    print(
        f"read:   {seen:,}/{n:,} records in {dt:.1f} s = {seen / dt:,.0f} records/s; "
        f"{calls} search calls vs minimum {minimum} = {calls / minimum:.3f}x "
        f"({calls / n:.4f} calls/record)"
    )
    again, _, calls, dt = poll(adapter, cursor)
    print(f"follow-up poll at once: {again} records delivered, {calls} search calls, {dt * 1000:.0f} ms")

    adapter = adapter_for(sb, mode)
    updates = {str(i): {"hs_lead_status": STATUSES[k % len(STATUSES)]} for k, i in enumerate(ids)}
    t0 = time.perf_counter()
    results = adapter.update(updates)
    dt = time.perf_counter() - t0
    ok = sum(r.ok for r in results.values())
    calls = adapter.transport.stats.calls
    minimum = math.ceil(n / 100)
    print(
        f"update: {ok:,}/{n:,} records in {dt:.1f} s = {ok / dt:,.0f} records/s; "
        f"{calls} batch calls vs minimum {minimum} = {calls / minimum:.3f}x "
        f"({calls / n:.4f} calls/record)"
    )


def bench_burst(sb: HubSpotSandbox, n: int, mode: str, redis_url: str) -> None:
    sb.reset()
    sb.configure(tier="unlimited")
    store = sb.portal.stores["contacts"]
    t = sb.portal.clock.now_ms() - 45_000
    with sb.backend.lock:  # n contacts changed over 10 s, 45..35 s before the first poll
        for i in range(n):
            store._insert({"email": f"b{i}@x.test"}, SYSTEM, created_ms=t + (10_000 * i) // n)
    client = redis.Redis.from_url(redis_url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    adapter = adapter_for(sb, mode, delivered=RedisDelivered(client, name))
    got, cursor, calls, _ = poll(adapter, None)
    print(f"burst of {n:,} changes 45..35 s old: poll 1 delivered {got:,} with {calls} searches")
    again, _, calls, _ = poll(adapter_for(sb, mode, delivered=RedisDelivered(client, name)), cursor)
    print(f"  restarted process, same cursor, shared Redis memory: delivered {again}, {calls} searches")
    for step, label in ((61_000, "poll 2, 61 s later"), (10_000, "poll 3, 10 s after poll 2")):
        sb.advance_clock(step)
        got, cursor, calls, _ = poll(adapter, cursor)
        print(f"  {label}: delivered {got}, {calls} searches")
    client.delete(f"crmsync:delivered:hubspot:{name}")
    client.close()


def bench_throttled(sb: HubSpotSandbox, seconds: float, redis_url: str) -> None:
    sb.reset()
    sb.configure(tier=RateLimitTier(per_ten_seconds=190, daily=None, search_per_second=5))
    with sb.backend.lock:
        ids = [str(i) for i in seed_contacts(sb.portal, 5_000)]
    client = redis.Redis.from_url(redis_url)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    budget = RateBudget(per_ten_seconds=180, search_per_second=4, daily=1_000_000)
    stop = time.monotonic() + seconds
    adapters = [
        HubSpotAdapter(settings(sb, "zero"), limiter=RedisRateLimiter(client, name, budget)) for _ in range(2)
    ]

    def work(adapter: HubSpotAdapter, offset: int) -> None:
        k = offset
        while time.monotonic() < stop:
            chunk = ids[(k * 100) % len(ids) : (k * 100) % len(ids) + 100]
            adapter.update({i: {"hs_lead_status": STATUSES[k % len(STATUSES)]} for i in chunk})
            k += 2

    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(a, i)) for i, a in enumerate(adapters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    accepted, throttled = sb.portal.limiter.accepted, sb.portal.limiter.throttled
    ceiling = 190 * elapsed / 10
    print(
        f"throttled run: {elapsed:.1f} s at 190 req/10 s, "
        f"budget {budget.per_ten_seconds}/10 s shared by 2 workers: "
        f"{accepted} calls accepted = {accepted / ceiling:.1%} of the ceiling; "
        f"{throttled} answered 429 = {throttled / max(1, accepted + throttled):.2%}; "
        f"{accepted * 100 / elapsed:,.0f} records/s"
    )
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--throttled-seconds", type=float, default=40.0)
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--settings", choices=sorted(MODE), default="default")
    args = parser.parse_args()
    redis_url = os.environ.get("CRMSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    with HubSpotSandbox() as sb:
        bench_read_and_update(sb, args.records, args.settings)
        if args.burst > 0:
            bench_burst(sb, args.burst, args.settings, redis_url)
        if args.throttled_seconds > 0:
            bench_throttled(sb, args.throttled_seconds, redis_url)


if __name__ == "__main__":
    main()
