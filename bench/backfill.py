"""Benchmark: a backfill of N Salesforce leads (each gets a HubSpot contact, linked both ways) through
1, 2 and 4 real Celery workers (``crmsync worker --queues backfill``), in three modes:

- ``limits``: the sandboxes' limits on (HubSpot's ``--tier``: starter, 100 calls / 10 s; professional
  190), the workers sharing a Redis budget of ``--budget`` (default 90 % of the tier's, as the
  daemon's 170 of 190). The bound is that budget: calls/s x 100 records per HubSpot batch call / 2
  HubSpot calls per person (one email lookup, one create) = 450 people/s at 90 / 10 s, 850 at 170;
  over a run of T seconds at most ``budget x (floor(T / 10) + 1)`` calls fit the sliding window, and
  that is the bound the share is taken of. Prints people/s as a share of it (target >= 90 %). The
  starter tier is the default so that on a small machine the budget, not the CPU, is what binds;
- ``off``: no limits: people/s per worker count (scaling);
- ``latency``: limits on, and every call to either sandbox answered ``--latency-ms`` (150) later:
  the share of the bound again (the workers must keep enough calls in flight).

For every run it also prints the API calls per person on each CRM, counted by the sandboxes (429s
included), against the batch minimum (target <= 1.1x): Salesforce one count, one id query per 2,000,
and per chunk of 200 one read (leads with their facts) and one write-back of the HubSpot ids; HubSpot
per chunk two email lookups and two creates (100 per call). And the peak RSS of every worker process
(``VmHWM``, main and pool processes; target < 300 MB, flat in N).

    .venv/bin/python bench/backfill.py [--people 100000] [--workers 1,2,4] [--modes limits,off,latency]
        [--tier starter] [--budget 90] [--pool threads] [--concurrency 4] [--latency-ms 150]
        [--redis redis://127.0.0.1:6379/8]

Each worker is ``crmsync worker --queues backfill -P threads -c 4``: one process keeping four chunks
(and so four calls) in flight. With ``-c 1`` a worker waits for each call in turn: at 150 ms per call
a chunk of 200 takes six calls' latency (about 1 s), so one worker cannot pass ~200 people/s whatever
the budget (``--pool prefork --concurrency 1`` shows it).

Each sandbox runs in a process of its own (forked from this one, seeded in memory), so the two do not
share one interpreter lock; on a small machine they still compete with the workers for the cores,
so the people/s without limits is a lower bound. The Redis database given is flushed (state and
broker share it). Figures measured while other processes load the machine say so (the load average
is printed with each).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis

from sandbox.hubspot.limits import TIERS, RateLimitTier
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox

ROOT = Path(__file__).resolve().parent.parent
CRMSYNC = str(Path(sys.executable).parent / "crmsync")
CHUNK = 200
SF_PAGE = 2000  # the enumeration's id page (worker.ops.backfill.SF_PAGE)
HS_PER_PERSON = 2  # a first-sight backfill: one email lookup and one create, 100 per call
MODES = ("limits", "off", "latency")


@dataclass(frozen=True)
class Setup:
    people: int
    mode: str
    tier: str
    latency_ms: int


# ---------------------------------------------------------------------------- sandboxes in processes
def _serve(kind: str, setup: Setup, conn: Connection) -> None:
    """A sandbox's process: start, seed, configure, answer ``stats`` until told ``stop``."""
    limited = setup.mode != "off"
    delay = setup.latency_ms if setup.mode == "latency" else 0
    if kind == "salesforce":
        sf = SalesforceSandbox().start()
        seed_org(sf.org, setup.people)
        if not limited:
            sf.org.api_max = 10**9
        if delay:
            sf.add_fault("slow", delay=delay / 1000, times=10**9)
        conn.send({"instance_url": sf.instance_url, "ca_path": str(sf.ca_path)})
        stats: Any = lambda: {"calls": sf.org.api_used, "throttled": 0}  # noqa: E731
        stop = sf.stop
    else:
        hs = HubSpotSandbox().start()
        hs.configure(tier=TIERS[setup.tier] if limited else TIERS["unlimited"])
        if delay:
            hs.arm_fault(path_prefix="/crm", delay_ms=delay)
        conn.send({"base_url": hs.base_url, "token": hs.token})
        lim = hs.portal.limiter
        stats = lambda: {"calls": lim.accepted + lim.throttled, "throttled": lim.throttled}  # noqa: E731
        stop = hs.stop
    while (command := conn.recv()) != "stop":
        conn.send(stats() if command == "stats" else None)
    stop()
    conn.send("stopped")


class SandboxProcess:
    def __init__(self, kind: str, setup: Setup) -> None:
        self.conn, child = mp.get_context("fork").Pipe()
        self.proc = mp.get_context("fork").Process(target=_serve, args=(kind, setup, child), daemon=True)
        self.proc.start()
        self.info: dict[str, str] = self.conn.recv()

    def stats(self) -> dict[str, int]:
        self.conn.send("stats")
        got: dict[str, int] = self.conn.recv()
        return got

    def stop(self) -> None:
        try:
            self.conn.send("stop")
            self.conn.recv()
        finally:
            self.proc.join(timeout=30)
            if self.proc.is_alive():
                self.proc.kill()


@contextmanager
def sandboxes(setup: Setup) -> Iterator[tuple[SandboxProcess, SandboxProcess]]:
    sf = SandboxProcess("salesforce", setup)
    try:
        hs = SandboxProcess("hubspot", setup)
        try:
            yield sf, hs
        finally:
            hs.stop()
    finally:
        sf.stop()


def env_for(sf: SandboxProcess, hs: SandboxProcess, url: str, setup: Setup, budget: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMSYNC_", "CELERY"))}
    tier: RateLimitTier = TIERS[setup.tier]
    limited = setup.mode != "off" and tier.per_ten_seconds is not None
    env.update(
        {
            "CRMSYNC_REDIS_URL": url,
            "CRMSYNC_BROKER_URL": url,
            "CRMSYNC_MAP": str(ROOT / "mappings" / "default.yaml"),
            "CRMSYNC_VERIFY_MAP_ON_START": "false",
            "CRMSYNC_SALESFORCE_AUTH_MODE": "soap",
            "CRMSYNC_SALESFORCE_USERNAME": "admin@crm-sync.sandbox",
            "CRMSYNC_SALESFORCE_PASSWORD": "password",
            "CRMSYNC_SALESFORCE_SECURITY_TOKEN": "TOKEN",
            "CRMSYNC_SALESFORCE_LOGIN_URL": sf.info["instance_url"],
            "CRMSYNC_SALESFORCE_CA_BUNDLE": sf.info["ca_path"],
            "CRMSYNC_HUBSPOT_BASE_URL": hs.info["base_url"],
            "CRMSYNC_HUBSPOT_ACCESS_TOKEN": hs.info["token"],
            # limits on: the portal's published limit and our share of it; off: the unlimited tier
            "CRMSYNC_HUBSPOT_PORTAL_LIMIT_PER_10S": str(tier.per_ten_seconds if limited else 1_000_000),
            "CRMSYNC_HUBSPOT_BUDGET_PER_10S": str(budget if limited else 100_000),
            "CRMSYNC_HUBSPOT_DAILY_BUDGET": str(10**9),
        }
    )
    return env


# ---------------------------------------------------------------------------- workers
def worker_pids(pid: int) -> list[int]:
    ps = ["ps", "-o", "pid=", "--ppid", str(pid)]
    kids = subprocess.run(ps, capture_output=True, text=True, check=False).stdout
    return [pid, *(int(p) for p in kids.split())]


def peak_rss_mb(pid: int) -> float:
    """Peak RSS (``VmHWM``) of the largest of a worker's processes (main and pool)."""
    best = 0.0
    for child in worker_pids(pid):
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return best


def minimum_calls(people: int) -> dict[str, int]:
    chunks = math.ceil(people / CHUNK)
    pages = people // SF_PAGE + 1  # the last page is short (or empty)
    per_chunk_sf = math.ceil(CHUNK / 300) + math.ceil(CHUNK / 200)
    return {
        "salesforce": 1 + pages + chunks * per_chunk_sf,
        "hubspot": chunks * math.ceil(CHUNK / 100) * HS_PER_PERSON,
    }


def run(setup: Setup, workers: int, pool: str, concurrency: int, url: str, budget: int) -> dict[str, Any]:
    r = redis.Redis.from_url(url)
    # FLUSHDB ASYNC: a million people's state is ~2 GB, and a blocking flush outlasted the client's
    # socket timeout at the end of a 1,000,000-people run (its figures were lost with the exception)
    r.flushdb(asynchronous=True)
    with sandboxes(setup) as (sf, hs):
        env = env_for(sf, hs, url, setup, budget)
        procs = [
            subprocess.Popen(
                [
                    CRMSYNC,
                    "worker",
                    "--queues",
                    "backfill",
                    "-P",
                    pool,
                    "-c",
                    str(concurrency),
                    "-n",
                    f"b{i}@%h",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for i in range(workers)
        ]
        rss: dict[int, float] = {}
        done = threading.Event()

        def sample() -> None:  # VmHWM is kept by the kernel; sampling only catches pool restarts
            while not done.wait(2):
                for p in procs:
                    rss[p.pid] = max(rss.get(p.pid, 0.0), peak_rss_mb(p.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            time.sleep(3)  # the workers connect
            before = {"salesforce": sf.stats(), "hubspot": hs.stats()}
            sampler.start()
            follow = subprocess.run(
                [CRMSYNC, "backfill", "start", "--object", "Lead", "--chunk-size", str(CHUNK), "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            after = {"salesforce": sf.stats(), "hubspot": hs.stats()}
            load = os.getloadavg()[0]
            if not follow.stdout.strip():
                raise SystemExit(f"backfill failed: {follow.stderr[-2000:]}")
            last = json.loads(follow.stdout.splitlines()[-1])
            if last["state"] != "done" or last["done"] != setup.people or last["errors"]:
                raise SystemExit(f"backfill did not finish cleanly: {last}")
            for p in procs:
                rss[p.pid] = max(rss.get(p.pid, 0.0), peak_rss_mb(p.pid))
            return {
                "rate": setup.people / last["elapsed_s"],
                "seconds": last["elapsed_s"],
                "writes": last["writes"],
                "calls": {crm: after[crm]["calls"] - before[crm]["calls"] for crm in after},
                "throttled": after["hubspot"]["throttled"] - before["hubspot"]["throttled"],
                "rss_mb": max(rss.values()),
                "load": load,
            }
        finally:
            done.set()
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
            r.flushdb(asynchronous=True)


def run_bound(budget: int, seconds: float) -> float:
    """The most people/s a run of ``seconds`` can reach on ``budget`` calls per sliding 10 s: at most
    ``budget`` calls in each 10 s from the start, so ``budget x (floor(seconds / 10) + 1)`` calls."""
    calls = budget * (math.floor(seconds / 10) + 1)
    return calls * 100 / HS_PER_PERSON / seconds


def report(setup: Setup, workers: int, pool: str, got: dict[str, Any], budget: int, base: float) -> None:
    n = setup.people
    minimum = minimum_calls(n)
    calls = "; ".join(
        f"{crm} calls {got['calls'][crm]} = {got['calls'][crm] / n:.4f}/person "
        f"(batch minimum {minimum[crm]}, {got['calls'][crm] / minimum[crm]:.2f}x)"
        for crm in ("salesforce", "hubspot")
    )
    head = (
        f"{setup.mode:<7} {workers} worker(s) ({pool}): {n} people in {got['seconds']:.1f} s = "
        f"{got['rate']:.0f} people/s"
    )
    if setup.mode == "off":
        share = f"{got['rate'] / base:.2f}x one worker"
    else:
        steady = budget / 10 * 100 / HS_PER_PERSON
        bound = run_bound(budget, got["seconds"])
        share = (
            f"{got['rate'] / bound:.1%} of the bound {bound:.0f} people/s over {got['seconds']:.0f} s "
            f"(budget {budget}/10 s, {steady:.0f} people/s steady; target >= 90 %: "
            f"{got['rate'] / bound / 0.9:.2f} of it)"
        )
        if setup.mode == "latency":
            share += f"; latency {setup.latency_ms} ms per call"
    print(
        f"{head} ({share}); {got['writes']} writes; {calls}; HubSpot 429s {got['throttled']}; "
        f"peak RSS per worker process {got['rss_mb']:.0f} MB (limit 300 MB: {got['rss_mb'] / 300:.2f}); "
        f"load average {got['load']:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES)}")
    parser.add_argument("--pool", default="threads", choices=["prefork", "threads"], help="-P of each worker")
    parser.add_argument("--concurrency", type=int, default=4, help="-c of each worker (threads or processes)")
    parser.add_argument("--tier", default="starter", choices=[t for t in TIERS if t != "unlimited"])
    parser.add_argument(
        "--budget",
        type=int,
        default=None,
        help="the workers' HubSpot calls per 10 s (default: 90 %% of the tier's)",
    )
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument(
        "--redis", default=os.environ.get("CRMSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    )
    args = parser.parse_args()
    if args.budget is None:
        args.budget = int((TIERS[args.tier].per_ten_seconds or 0) * 0.9)
    # a SIGTERM ends the run through its finally blocks: workers stopped, sandboxes too, Redis flushed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}: use {', '.join(MODES)}")
    print(f"machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    for mode in modes:
        setup = Setup(args.people, mode, args.tier, args.latency_ms)
        base = 0.0
        for n in (int(w) for w in args.workers.split(",")):
            got = run(setup, n, args.pool, args.concurrency, args.redis, args.budget)
            base = base or got["rate"]
            report(setup, n, f"-P {args.pool} -c {args.concurrency}", got, args.budget, base)


if __name__ == "__main__":
    main()
