"""Benchmark: a backfill of N Salesforce leads (each gets a HubSpot contact, linked both ways) through
1, 2 and 4 real Celery workers (``crmsync worker --queues backfill -c 1`` each), the sandboxes' rate
limits off; then the same backfill again (nothing to write). Prints people per second per worker count
(and its ratio to one worker) and the workers' peak RSS. Not yet measured here: API calls per person
(``bench/sync_service.py`` prints them for the same service), the rate-limited and 150 ms-latency runs,
and 100,000 / 1,000,000 people.

    .venv/bin/python bench/backfill.py [--people 20000] [--workers 1,2,4] [--redis redis://127.0.0.1:6379/8]

The Redis database given is flushed (state and broker share it). Both sandboxes run in this process,
so with several workers they are often the bottleneck (one Python process answering every call):
the scaling figure is a lower bound. Figures measured while other processes load the machine say so
in the report that quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox

ROOT = Path(__file__).resolve().parent.parent
CRMSYNC = str(Path(sys.executable).parent / "crmsync")


def env_for(sf: SalesforceSandbox, hs: HubSpotSandbox, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMSYNC_", "CELERY"))}
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
            "CRMSYNC_SALESFORCE_LOGIN_URL": sf.instance_url,
            "CRMSYNC_SALESFORCE_CA_BUNDLE": str(sf.ca_path),
            "CRMSYNC_HUBSPOT_BASE_URL": hs.base_url,
            "CRMSYNC_HUBSPOT_ACCESS_TOKEN": hs.token,
            "CRMSYNC_HUBSPOT_PORTAL_LIMIT_PER_10S": "1000000",  # limits off: the unlimited tier
            "CRMSYNC_HUBSPOT_BUDGET_PER_10S": "100000",
        }
    )
    return env


def peak_rss_mb(pid: int) -> float:
    """Peak RSS of a worker's pool children (the processes that run the tasks)."""
    best = 0.0
    ps = ["ps", "-o", "pid=", "--ppid", str(pid)]
    kids = subprocess.run(ps, capture_output=True, text=True, check=False).stdout
    for child in [pid, *(int(p) for p in kids.split())]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return best


def run(people: int, workers: int, url: str) -> dict[str, float]:
    r = redis.Redis.from_url(url)
    r.flushdb()
    with SalesforceSandbox() as sf, HubSpotSandbox() as hs:
        hs.configure(tier=TIERS["unlimited"])
        seed_org(sf.org, people)
        env = env_for(sf, hs, url)
        procs = [
            subprocess.Popen(
                [CRMSYNC, "worker", "--queues", "backfill", "-c", "1", "-n", f"bench{i}@%h"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for i in range(workers)
        ]
        try:
            time.sleep(3)  # the workers connect
            out: dict[str, float] = {}
            for phase in ("first", "again"):
                started = time.monotonic()
                done = subprocess.run(
                    [CRMSYNC, "backfill", "start", "--object", "Lead", "--chunk-size", "200", "--json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                seconds = time.monotonic() - started
                if not done.stdout.strip():
                    raise SystemExit(f"backfill failed: {done.stderr[-2000:]}")
                last = json.loads(done.stdout.splitlines()[-1])
                assert last["state"] == "done" and last["done"] == people, last
                out[f"{phase}_rate"] = people / seconds
                out[f"{phase}_writes"] = last["writes"]
            out["rss_mb"] = max(peak_rss_mb(p.pid) for p in procs)
            return out
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                p.wait(timeout=60)
            r.flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    base = None
    for n in (int(w) for w in args.workers.split(",")):
        got = run(args.people, n, args.redis)
        base = base or got["first_rate"]
        print(
            f"{n} worker(s): first backfill {args.people} people at {got['first_rate']:.0f} people/s "
            f"({got['first_rate'] / base:.2f}x one worker), {got['first_writes']:.0f} writes; "
            f"again at {got['again_rate']:.0f} people/s, {got['again_writes']:.0f} writes; "
            f"peak RSS per worker {got['rss_mb']:.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
