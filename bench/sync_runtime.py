"""Benchmark the running daemon in steady state: 10,000 linked people and a stream of changes on both sides.

Run: ``.venv/bin/python bench/sync_runtime.py [--people 10000] [--rate 10] [--seconds 60] [--poll 5]``

Both sandboxes run in this process; ``crmsync worker -c 2`` and ``crmsync beat`` run as child processes
exactly as deployed (Redis state db from ``CRMSYNC_BENCH_REDIS_URL``, default db 3, broker db + 8; both
databases are flushed). Setup (not measured as steady state): the people are inserted into both
sandboxes through their models, already linked both ways, and the daemon syncs every one of them once
(reported as initial people/s). Then, for ``--seconds``, a driver edits one person's phone every
1/``--rate`` s, alternating Salesforce and HubSpot, to a unique value, through the sandboxes' models (so
every API call counted is the worker's). The audit stream says when each value was written to the other
side. Printed: changes/s sustained, p50/p95 change-to-write latency on the poll path against the
targets (Salesforce: poll interval + 2 s; HubSpot: interval + index-lag margin + 2 s), API calls per
change for the syncs against their batches' minimum (a batch that wrote: 2 reads + 1 write call per
side written; one that wrote nothing — the echoes of earlier writes — 1 read per CRM its keys name, as
a change signal carries ids, not values), every API call by kind from the sandboxes' request logs,
poll calls per interval, and the
worker's RSS (main process + pool). ``--webhooks`` adds ``crmsync web`` (HubSpot webhooks and Salesforce
Outbound Messages from the sandboxes) and polls every 60 s, so the latencies are the webhook path's
(target p95 <= 2 s).
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.hubspot.limits import TIERS  # noqa: E402
from sandbox.hubspot.models import DEFAULT_APP_ID, DEFAULT_CLIENT_SECRET, SYSTEM  # noqa: E402
from sandbox.hubspot.server import HubSpotSandbox  # noqa: E402
from sandbox.salesforce.server import SalesforceSandbox, free_port  # noqa: E402
from worker.demo import demo_env  # noqa: E402
from worker.state.audit import AuditLog  # noqa: E402
from worker.state.dirty import DirtySet  # noqa: E402

CRMSYNC = str(Path(sys.executable).parent / "crmsync")
MARGIN_S = 2.0


def rss_mb(pid: int) -> float:
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def seed_linked(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, people: int) -> list[tuple[str, int]]:
    org, store = sf_box.org, hs_box.portal.stores["contacts"]
    pairs: list[tuple[str, int]] = []
    for n in range(people):
        email = f"person{n}@bench.example.com"
        with hs_box.backend.lock:
            rec = store.create(
                {
                    "email": email,
                    "firstname": "P",
                    "lastname": f"N{n}",
                    "company": "Bench",
                    "lifecyclestage": "marketingqualifiedlead",
                    "hs_lead_status": "IN_PROGRESS",
                },
                SYSTEM,
            )
        lead = org.create(
            "Lead",
            {
                "FirstName": "P",
                "LastName": f"N{n}",
                "Company": "Bench",
                "Email": email,
                "Status": "Working",
                "Lead_Stage__c": "Marketing Qualified Lead",
                "HubSpot_Contact_ID__c": str(rec.id),
            },
            org.admin_id,
        )
        with hs_box.backend.lock:
            store.update(rec, {"salesforce_lead_id": lead}, SYSTEM)
        pairs.append((lead, rec.id))
    return pairs


def wait_drained(state: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    sets = [DirtySet(state, "salesforce"), DirtySet(state, "hubspot")]
    while time.monotonic() < deadline:
        waiting = sum(d.size(o) for d in sets for o in ("Lead", "Contact", "contacts"))
        leased = sum(len(d.leased(o)) for d in sets for o in ("Lead", "Contact", "contacts"))
        if waiting == 0 and leased == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"the daemon did not drain the dirty set within {timeout:g}s")


def sync_results(log: Path, since: float, task: str = "sync") -> list[dict[str, Any]]:
    """The results of the ``task`` tasks (default: syncs) that started at ``since`` or later (the log's
    time of the answer less the task's run time; the log is flushed late, so counting its lines would
    not do)."""
    out = []
    pattern = (
        r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): [^\]]*\] "
        rf"Task crmsync\.{task}\[[^\]]+\] succeeded in ([0-9.]+)s: (\{{.*\}})"
    )
    for m in re.finditer(pattern, log.read_text(errors="replace"), re.MULTILINE):
        done = time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1000
        if done - float(m[3]) >= since:
            out.append(ast.literal_eval(m[4]))
    return out


def call_kinds(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox) -> dict[str, int]:
    """Every API call in the sandboxes' request logs, by kind (syncs' and polls' together)."""
    out: dict[str, int] = {}
    with sf_box.org.lock:
        sf = list(sf_box.org.requests)
    with hs_box.backend.lock:
        hs = list(hs_box.portal.requests)
    for r in sf:
        froms = re.findall(r"\bFROM (\w+)(?: WHERE (\w+))?", r.soql)  # the outer query's is last
        what = f"query {froms[-1][0]} by {froms[-1][1]}" if froms else re.sub(r"/v[0-9.]+/", "/", r.path)
        key = f"salesforce {r.method} {what}"
        out[key] = out.get(key, 0) + 1
    for h in hs:
        key = f"hubspot {h.method} {re.sub(r'/[0-9]+', '/{id}', h.path)}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10.0, help="changes per second (both sides together)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--poll", type=float, default=None, help="poll interval (default 5 s; 60 with --webhooks)"
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="also run `crmsync web` and have both sandboxes send webhooks / Outbound Messages to it",
    )
    args = parser.parse_args()
    args.poll = args.poll or (60.0 if args.webhooks else 5.0)
    settle_s = 6.0 if args.webhooks else args.poll * 2 + 2  # echo checks land within this
    url = os.environ.get("CRMSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    head, _, db = url.rpartition("/")
    broker = f"{head}/{(int(db or 0) + 8) % 16}"
    state = redis.Redis.from_url(url)
    redis.Redis.from_url(broker).flushdb()
    state.flushdb()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    procs: list[subprocess.Popen[bytes]] = []
    with SalesforceSandbox() as sf_box, HubSpotSandbox() as hs_box:
        hs_box.configure(tier=TIERS["unlimited"])
        t = time.perf_counter()
        pairs = seed_linked(sf_box, hs_box, args.people)
        print(f"seeded {len(pairs):,} linked pairs in {time.perf_counter() - t:.1f}s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
        env.update(demo_env(url, sf_box.instance_url, str(sf_box.ca_path), hs_box.base_url, hs_box.token))
        env.update(
            {
                "CRMSYNC_BROKER_URL": broker,
                "CRMSYNC_SALESFORCE_POLL_SECONDS": str(args.poll),
                "CRMSYNC_HUBSPOT_POLL_SECONDS": str(args.poll),
                "CRMSYNC_HUBSPOT_INDEX_LAG_MARGIN_S": str(MARGIN_S),
                "CRMSYNC_HUBSPOT_LOOKBACK_S": "10",
                "CRMSYNC_SYNC_BATCH_SIZE": "100",
            }
        )
        worker_log = log_dir / "worker.log"
        try:
            procs.append(
                subprocess.Popen(
                    [CRMSYNC, "worker", "-c", "2"],
                    env=env,
                    cwd=ROOT,
                    stdout=worker_log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
            procs.append(
                subprocess.Popen(
                    [CRMSYNC, "beat"],
                    env=env,
                    cwd=ROOT,
                    stdout=(log_dir / "beat.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
            if args.webhooks:
                port = free_port()
                env.update(
                    {
                        "CRMSYNC_HUBSPOT_APP_SECRET": DEFAULT_CLIENT_SECRET,
                        # as deployed: the receiver skips the webhooks of our own writes
                        "CRMSYNC_HUBSPOT_APP_ID": str(DEFAULT_APP_ID),
                        "CRMSYNC_WEB_SALESFORCE_ORG_ID": sf_box.org.org_id,
                    }
                )
                procs.append(
                    subprocess.Popen(
                        [CRMSYNC, "web", "--port", str(port)],
                        env=env,
                        cwd=ROOT,
                        stdout=(log_dir / "web.log").open("wb"),
                        stderr=subprocess.STDOUT,
                    )
                )
            while "ready." not in worker_log.read_text(errors="replace"):
                time.sleep(0.2)
            # initial: every person synced once (links and bases stored)
            t = time.perf_counter()
            DirtySet(state, "salesforce").add("Lead", [lead for lead, _ in pairs])
            wait_drained(state, 1800)
            initial_s = time.perf_counter() - t
            rate = len(pairs) / initial_s
            print(f"initial sync: {len(pairs):,} people in {initial_s:.1f}s = {rate:,.0f} people/s")
            time.sleep(settle_s)  # the echo checks of the initial sync settle
            if args.webhooks:
                hs_box.configure_webhooks(target_url=f"http://127.0.0.1:{port}/webhooks/hubspot")
                sf_box.enable_outbound(f"http://127.0.0.1:{port}/webhooks/salesforce/outbound")
            audit = AuditLog(state)
            audit_before = audit.length()
            sf_calls0, hs_calls0 = sf_box.org.api_used, hs_box.portal.limiter.accepted
            with sf_box.org.lock:
                sf_box.org.requests.clear()
            with hs_box.backend.lock:
                hs_box.portal.requests.clear()

            # the stream
            changes: dict[str, tuple[str, float]] = {}
            step, n, start = 1.0 / args.rate, 0, time.time()
            store = hs_box.portal.stores["contacts"]
            while time.time() - start < args.seconds:
                lead, contact = pairs[(n * 7919) % len(pairs)]
                value = f"+1555{n:07d}"
                side = "salesforce" if n % 2 == 0 else "hubspot"
                changes[value] = (side, time.time())
                if side == "salesforce":
                    sf_box.org.update("Lead", lead, {"Phone": value}, sf_box.org.admin_id)
                else:
                    with hs_box.backend.lock:
                        store.update(store.records[contact], {"phone": value}, SYSTEM)
                n += 1
                time.sleep(max(0.0, start + n * step - time.time()))
            stream_s = time.time() - start
            deadline = time.monotonic() + args.poll * 3 + 60
            written: dict[str, float] = {}
            while time.monotonic() < deadline and len(written) < len(changes):
                for e in audit.entries():
                    if e.field in {"Phone", "phone"} and e.after in changes and e.after not in written:
                        written[e.after] = e.at_ms / 1000
                time.sleep(1)
            wait_drained(state, 120)
            time.sleep(settle_s)  # echo checks of the last writes
            elapsed = time.time() - start
            rss = rss_mb(procs[0].pid)
            sf_calls, hs_calls = sf_box.org.api_used - sf_calls0, hs_box.portal.limiter.accepted - hs_calls0
            results = sync_results(worker_log, start)
            polled = {
                crm: sync_results(worker_log, start, f"poll_{crm}") for crm in ("salesforce", "hubspot")
            }
            kinds = call_kinds(sf_box, hs_box)
            writes_total = audit.length() - audit_before
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=60)

    lat = {
        side: sorted(written[v] - t0 for v, (s, t0) in changes.items() if s == side and v in written)
        for side in ("salesforce", "hubspot")
    }
    sync_calls = sum(sum(r.get("api_calls", {}).values()) for r in results)
    batches = sum(r.get("batches", 0) for r in results)
    minimum = sum(r.get("least_calls", 0) for r in results)
    polls = elapsed / args.poll
    poll_calls = (sf_calls + hs_calls) - sync_calls
    last = max(written.values(), default=start)
    print(
        f"\nstream: {n} changes offered in {stream_s:.1f}s ({n / stream_s:.1f}/s); {len(written)} written to "
        f"the other side, the last {last - start:.1f}s after the first change: "
        f"{len(written) / max(1e-9, last - start):.1f} changes/s sustained; {writes_total} audited writes"
    )
    path = "webhook path" if args.webhooks else "poll path"
    targets = (
        (("salesforce", 2.0), ("hubspot", 2.0))
        if args.webhooks
        else (("salesforce", args.poll + 2), ("hubspot", args.poll + MARGIN_S + 2))
    )
    for side, target in targets:
        xs = lat[side]
        if xs:
            p50, p95 = statistics.median(xs), xs[max(0, math.ceil(0.95 * len(xs)) - 1)]
            print(
                f"  {side:10} change to other side written ({path}): p50 {p50:.2f}s p95 {p95:.2f}s; "
                f"target p95 <= {target:g}s: {p95 / target:.2f} of the limit (n={len(xs)})"
            )
    per_change = sync_calls / max(1, len(written))
    print(
        f"  API calls by syncs: {sync_calls} = {per_change:.2f} per change, in {batches} batches (echo "
        f"checks included); batch minimum {minimum} (a batch that wrote: 2 reads + 1 write per side written; "
        f"one that wrote nothing: 1 read per CRM its keys name): {sync_calls / max(1, minimum):.2f}x "
        "(target <= 1.1x)"
    )
    keys = sum(r.get("keys", 0) for r in results)
    marked = {crm: sum(r.get("marked", 0) for r in rs) for crm, rs in polled.items()}
    echoes = sum(r.get("echoes", 0) for rs in polled.values() for r in rs)
    print(
        f"  keys synced: {keys} = {keys / max(1, len(written)):.2f} per change; people queued by polls: "
        f"Salesforce {marked['salesforce']}, HubSpot {marked['hubspot']}; HubSpot rows not queued as "
        f"echoes: {echoes}"
    )
    sync_kinds = ("by Id", "/batch/", "/composite/sobjects")
    logged = sum(n for kind, n in kinds.items() if any(k in kind for k in sync_kinds))
    reads = sum(n for kind, n in kinds.items() if "by Id" in kind or kind.endswith("/batch/read"))
    print(
        f"  the sandboxes' request logs over the same time: {logged} sync calls ({reads} batch reads, "
        f"{logged - reads} batch writes), {sum(kinds.values()) - logged} poll calls"
    )
    print(
        f"  API calls by polls: {poll_calls} over ~{polls:.0f} intervals = "
        f"{poll_calls / max(1, polls):.1f} per interval (both CRMs, whatever the change rate)"
    )
    print("  API calls by kind (sandbox request logs, syncs and polls):")
    for kind, count in kinds.items():
        print(f"    {count:>6}  {kind}")
    print(f"  worker RSS (main + 2 pool processes) at the end: {rss:.0f} MB")
    if not args.webhooks:
        print("  webhook path: run with --webhooks")
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, shared with other sessions' work while measured; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup (stop worker and beat)
    main()
