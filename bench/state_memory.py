"""Benchmark: Redis memory per 1,000,000 people (links + bases) and per 1,000,000 audit entries.

Measured, then extrapolated (the script says so in its output):

1. ``--templates`` (500) Salesforce leads seeded like the demo org (calls, meetings, opportunities on
   some) are synced for the first time through the sync service (both sandboxes in process), then
   each lead's Status changes and they are synced again: the links, bases and audit entries that
   real syncs leave in Redis.
2. On a fresh database, ``--people`` (100,000) people are written through the real state stores
   (``LinkStore.link`` for both records, ``BaseStore.put_many``), each a copy of a template person
   with its own Salesforce and HubSpot ids; ``INFO memory`` ``used_memory`` before and after gives
   bytes per person; ``MEMORY USAGE`` of one person's keys is printed beside it.
3. Likewise ``--entries`` (100,000) audit entries through ``AuditLog.append`` (copies of the real
   entries, each with its own person and record): bytes per entry.

Each figure is scaled linearly to 1,000,000 (Redis keeps every key in one dict and every stream
entry in listpacks, so memory grows linearly beyond a few thousand keys). Limits for the ratio:
``--budget-gb`` (1 GB per million people, and per million audit entries).

    .venv/bin/python bench/state_memory.py [--people 100000] [--entries 100000] [--redis URL]

Without ``--redis`` (or ``CRMSYNC_BENCH_REDIS_URL``) it starts a throw-away redis-server of its own;
the database given is flushed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sync_service import service_for  # noqa: E402
from sandbox.hubspot.limits import TIERS  # noqa: E402
from sandbox.hubspot.server import HubSpotSandbox  # noqa: E402
from sandbox.salesforce.ids import KEY_PREFIXES, make_id  # noqa: E402
from sandbox.salesforce.seed import seed_org  # noqa: E402
from sandbox.salesforce.server import SalesforceSandbox  # noqa: E402
from worker.demo import local_redis  # noqa: E402
from worker.records import Base  # noqa: E402
from worker.state import keys  # noqa: E402
from worker.state.audit import AuditEntry, AuditLog  # noqa: E402
from worker.state.store import State  # noqa: E402
from worker.sync import RecordKey, Run  # noqa: E402

MB = 1024 * 1024


def used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def templates(r: redis.Redis, count: int) -> tuple[list[Base], list[AuditEntry], list[int]]:
    """Bases and audit entries left by real syncs of ``count`` people (first sight, then a change),
    and the entries each phase appended."""
    r.flushdb()
    with SalesforceSandbox() as sf_box, HubSpotSandbox() as hs_box:
        hs_box.configure(tier=TIERS["unlimited"])
        org = sf_box.org
        seed_org(org, count)
        leads = sorted(org.stores["Lead"].records)
        service = service_for(sf_box, hs_box, r)
        keys_ = [str(RecordKey.salesforce("Lead", i)) for i in leads]
        state = State.connect(r)
        appended: list[int] = []
        for phase in ("first sight", "status change"):
            if phase == "status change":
                for lead in leads:
                    was = org.stores["Lead"].records[lead].get("Status")
                    status = "Working" if was == "Contacted" else "Contacted"
                    org.update("Lead", lead, {"Status": status}, org.admin_id)
            for i in range(0, len(keys_), 200):
                out = service.sync_batch(keys_[i : i + 200], Run.new("bench"))
                bad = [o for o in out.keys.values() if o.disposition.value not in ("synced", "skipped")]
                if bad:
                    raise SystemExit(f"{phase}: {len(bad)} not synced, e.g. {bad[0]}")
            appended.append(state.audit.length() - sum(appended))
        bases = list(state.bases.get_many(keys_).values())
        entries = list(state.audit.entries())
    r.flushdb()
    if not bases or not entries:
        raise SystemExit("the template syncs left no bases or audit entries")
    return bases, entries, appended


def people_memory(r: redis.Redis, bases: list[Base], people: int) -> dict[str, Any]:
    state = State.connect(r)
    before = used(r)
    batch: dict[str, Base] = {}
    for i in range(people):
        sf_id = make_id(KEY_PREFIXES["Lead"], 10_000_000 + i)
        hs_id = str(50_000_000_000 + i * 7)
        sf_key, hs_key = str(RecordKey.salesforce("Lead", sf_id)), str(RecordKey.hubspot(hs_id))
        pid = sf_key
        state.links.link(pid, "salesforce", sf_key)
        state.links.link(pid, "hubspot", hs_key)
        batch[pid] = replace(bases[i % len(bases)], salesforce_id=sf_id, hubspot_id=hs_id)
        if len(batch) == 500 or i == people - 1:
            refused = state.bases.put_many(batch, fence=dict.fromkeys(batch, 1))
            assert not refused, refused
            batch = {}
    total = used(r) - before
    sample_sf = make_id(KEY_PREFIXES["Lead"], 10_000_000)
    pid = str(RecordKey.salesforce("Lead", sample_sf))
    usage = {
        "link (2 records)": sum(
            int(r.memory_usage(keys.link(k)) or 0) for k in (pid, str(RecordKey.hubspot("50000000000")))
        ),
        "person hash": int(r.memory_usage(keys.person(pid)) or 0),
        "base hash": int(r.memory_usage(keys.base(pid)) or 0),
    }
    return {"bytes": total, "per": total / people, "usage": usage, "keys": int(r.dbsize())}


def audit_memory(r: redis.Redis, entries: list[AuditEntry], count: int) -> dict[str, Any]:
    log = AuditLog(r, max_len=count * 2)
    before = used(r)
    page: list[AuditEntry] = []
    for i in range(count):
        e = entries[i % len(entries)]
        sf_id = make_id(KEY_PREFIXES["Lead"], 20_000_000 + i // 4)
        record = sf_id if e.side == "salesforce" else str(60_000_000_000 + (i // 4) * 7)
        page.append(replace(e, person=f"sf:Lead:{sf_id}", record=record, at_ms=0))
        if len(page) == 1000 or i == count - 1:
            log.append(page)
            page = []
    total = used(r) - before
    return {
        "bytes": total,
        "per": total / count,
        "stream": int(r.memory_usage(keys.AUDIT, samples=0) or 0),
        "length": log.length(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=500, help="people synced for real first")
    parser.add_argument("--people", type=int, default=100_000, help="people written through the stores")
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries appended")
    parser.add_argument("--budget-gb", type=float, default=1.0, help="the limit per million, in GB")
    parser.add_argument("--redis", default=os.environ.get("CRMSYNC_BENCH_REDIS_URL"))
    args = parser.parse_args()
    if args.redis:
        measure(redis.Redis.from_url(args.redis), args)
        return
    with open(os.devnull, "w") as quiet, local_redis(quiet) as url:
        measure(redis.Redis.from_url(url), args)


def measure(r: redis.Redis, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    bases, entries, appended = templates(r, args.templates)
    version = r.info("server")["redis_version"]
    print(
        f"templates: {len(bases)} bases and {len(entries)} audit entries from real syncs of "
        f"{args.templates} people: {appended[0] / args.templates:.1f} entries/person at first sight, "
        f"{appended[1] / args.templates:.1f} per status change; redis {version}"
    )
    limit = args.budget_gb * 1024
    got = people_memory(r, bases, args.people)
    per_m = got["per"] * 1_000_000 / MB
    usage = ", ".join(f"{k} {v} B" for k, v in got["usage"].items())
    print(
        f"links + bases: {args.people} people = {got['bytes'] / MB:.1f} MB used_memory "
        f"({got['keys']} keys) = {got['per']:.0f} B/person; MEMORY USAGE of one person: {usage}; "
        f"extrapolated: {per_m:,.0f} MB per 1,000,000 people (limit {limit:,.0f} MB: {per_m / limit:.2f})"
    )
    r.flushdb()
    got = audit_memory(r, entries, args.entries)
    per_m = got["per"] * 1_000_000 / MB
    print(
        f"audit: {got['length']} entries = {got['bytes'] / MB:.1f} MB used_memory "
        f"(stream MEMORY USAGE {got['stream'] / MB:.1f} MB) = {got['per']:.0f} B/entry; "
        f"extrapolated: {per_m:,.0f} MB per 1,000,000 entries (limit {limit:,.0f} MB: {per_m / limit:.2f})"
    )
    r.flushdb()
    print(f"measured in {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
