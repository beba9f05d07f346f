"""Benchmark: the sync service over both in-process sandboxes and a real Redis.

N Salesforce leads are met for the first time (each gets a HubSpot contact, linked both ways), then
every lead's Status changes in Salesforce and the people are synced again, then synced once more with
nothing changed. For each phase it prints people per second and API calls per person against the batch
minimum (the fewest calls the phase's reads and writes need at the APIs' batch sizes: Salesforce reads
300 ids per query and writes 200 records per call, HubSpot reads and writes 100 per call).

    .venv/bin/python bench/sync_service.py [--people 2000] [--batch 200] [--redis redis://127.0.0.1:6379/2]

The Redis database given is flushed. Figures measured while other processes load the machine say so
in the report that quotes them.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from collections.abc import Callable

import redis
from pydantic import SecretStr

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.mapping import load_map
from worker.state.store import State
from worker.sync import Run, SyncService, SyncSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def service_for(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, r: redis.Redis) -> SyncService:
    sf = SalesforceAdapter(
        SalesforceSettings(
            auth_mode="client_credentials",
            domain="sandbox.my",
            consumer_key="sandbox-consumer-key",
            consumer_secret=SecretStr("sandbox-consumer-secret"),
            login_url=sf_box.instance_url,
            ca_bundle=sf_box.ca_path,
        )
    )
    hs = HubSpotAdapter(
        HubSpotSettings(
            base_url=hs_box.base_url, access_token=SecretStr(hs_box.token), index_lag_margin_s=0, lookback_s=0
        )
    )
    return SyncService(
        load_map(os.path.join(ROOT, "mappings", "default.yaml")), sf, hs, State.connect(r), SyncSettings()
    )


def phase(
    label: str,
    service: SyncService,
    keys: list[str],
    batch: int,
    minimum: Callable[[int], int],
) -> None:
    calls = 0
    writes = 0
    per_batch_min = 0
    start = time.perf_counter()
    for i in range(0, len(keys), batch):
        chunk = keys[i : i + batch]
        out = service.sync_batch(chunk, Run.new("bench"))
        bad = [o for o in out.keys.values() if o.disposition.value != "synced"]
        if bad:
            raise SystemExit(f"{label}: {len(bad)} not synced, e.g. {bad[0]}")
        calls += sum(out.api_calls.values())
        writes += out.writes
        per_batch_min += minimum(len(chunk))
    seconds = time.perf_counter() - start
    n = len(keys)
    ratio = calls / per_batch_min if per_batch_min else float("nan")
    print(
        f"{label:<34} {n:>6} people {seconds:7.2f} s {n / seconds:8.0f} people/s  writes {writes:>6}  "
        f"calls {calls:>5} = {calls / n:.4f}/person (batch minimum {per_batch_min}, {ratio:.2f}x)"
    )


def run(people: int, batch: int, url: str) -> None:
    r = redis.Redis.from_url(url)
    r.flushdb()
    with SalesforceSandbox() as sf_box, HubSpotSandbox() as hs_box:
        hs_box.configure(tier=TIERS["unlimited"])
        org = sf_box.org
        leads = [
            org.create(
                "Lead",
                {"LastName": f"P{i}", "Company": "C", "Email": f"p{i}@example.com", "Status": "Working"},
                org.admin_id,
            )
            for i in range(people)
        ]
        service = service_for(sf_box, hs_box, r)
        service.sf.connection.client()  # log in outside the measurement
        keys = [f"sf:Lead:{lead}" for lead in leads]

        def first_sight(b: int) -> int:
            # read the leads, look their emails up in HubSpot, create the contacts, write the ids back
            return math.ceil(b / 300) + math.ceil(b / 100) * 2 + math.ceil(b / 200)

        phase("first sight (create + link)", service, keys, batch, first_sight)
        for lead in leads:
            org.update("Lead", lead, {"Status": "Meeting Set"}, org.admin_id)

        def steady(b: int) -> int:
            # read both sides, write HubSpot
            return math.ceil(b / 300) + 2 * math.ceil(b / 100)

        phase("status changed in Salesforce", service, keys, batch, steady)

        def idle(b: int) -> int:
            return math.ceil(b / 300) + math.ceil(b / 100)

        phase("nothing changed (re-run)", service, keys, batch, idle)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (both sandboxes in process): {rss_mb:.0f} MB")
    r.flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument(
        "--redis", default=os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args = parser.parse_args()
    run(args.people, args.batch, args.redis)


if __name__ == "__main__":
    main()
