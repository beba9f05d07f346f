"""Benchmark: the Salesforce adapter against the in-process HTTPS sandbox.

Reads N changed leads (REST query + locators), reads their related facts, writes N updates in
200-record composite/sobjects batches, and streams the same read through Bulk API 2.0. Prints records
per second and API calls per record against the targets: writes ⌈N/200⌉ calls, reads ⌈N/2000⌉ (+ what
related facts need), within 1.1x of the minimum.

    .venv/bin/python bench/salesforce_adapter.py [--leads 100000] [--seed-only 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import resource
import time

from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings, Watermark

STATUSES = ("Working", "Contacted")


def settings(sandbox: SalesforceSandbox, **overrides: object) -> SalesforceSettings:
    values: dict[str, object] = {
        "consumer_key": "sandbox-consumer-key",  # OAuth client credentials, the default auth mode
        "consumer_secret": "sandbox-consumer-secret",
        "domain": "sandbox.my",
        "login_url": sandbox.instance_url,
        "ca_bundle": sandbox.ca_path,
        "lookback_seconds": 0,
        "bulk_threshold": 10**9,
        "bulk_write_threshold": 10**9,  # measure collections; the Bulk 2.0 write is measured on its own
    }
    values.update(overrides)
    return SalesforceSettings(**values)  # type: ignore[arg-type]


def line(label: str, n: int, seconds: float, calls: int, minimum: int) -> None:
    ratio = calls / minimum if minimum else float("nan")
    verdict = "OK" if ratio <= 1.1 else "OVER"
    print(
        f"{label:<28} {n:>8} records  {seconds:7.2f} s  {n / seconds:9.0f} rec/s  "
        f"calls {calls:>5} (min {minimum}, {ratio:.2f}x {verdict})  {calls / n:.5f} calls/record"
    )


def run(n: int) -> None:
    with SalesforceSandbox() as sandbox:
        t = time.perf_counter()
        seed_org(sandbox.org, n)
        print(f"seeded {n} leads (+ related) in {time.perf_counter() - t:.1f} s")

        adapter = SalesforceAdapter(settings(sandbox))
        adapter.connection.client()  # log in outside the measurement
        base = adapter.calls
        t = time.perf_counter()
        ids: list[str] = []
        for page in adapter.changes("Lead", Watermark(), ["Email", "Status", "Lead_Stage__c", "IsConverted"]):
            ids.extend(r["Id"] for r in page.records)
        line(
            "read changes (REST)",
            len(ids),
            time.perf_counter() - t,
            adapter.calls - base,
            math.ceil(n / 2000),
        )

        base = adapter.calls
        t = time.perf_counter()
        rows = children = 0
        for page in adapter.changes(
            "Lead", Watermark(), ["Email", "Status", "Lead_Stage__c"], with_facts=True
        ):
            rows += len(page.records)
            children += sum(r[k]["totalSize"] for r in page.records for k in ("Tasks", "Events") if r.get(k))
        minimum = math.ceil((rows + children) / 2000)
        line("read changes + facts (REST)", rows, time.perf_counter() - t, adapter.calls - base, minimum)
        print(f"  (facts as parent fields + child subqueries; {children} child rows count toward each batch)")

        base = adapter.calls
        t = time.perf_counter()
        facts = adapter.related_facts("Lead", ids)
        chunk = adapter.settings.id_chunk_size
        line(
            "related facts by id (Lead)",
            len(facts.records),
            time.perf_counter() - t,
            adapter.calls - base,
            math.ceil(n / chunk),
        )
        print(f"  (one query per {chunk} ids: the URL of an `Id IN (...)` query must stay under ~16 KB)")

        base = adapter.calls
        t = time.perf_counter()
        results = adapter.update("Lead", [(rid, {"Status": STATUSES[i % 2]}) for i, rid in enumerate(ids)])
        elapsed = time.perf_counter() - t
        failed = sum(not r.ok for r in results.results)
        line("write updates (collections)", len(results), elapsed, adapter.calls - base, math.ceil(n / 200))
        if failed:
            print(f"  {failed} records rejected")

        ingest = SalesforceAdapter(settings(sandbox, bulk_write_threshold=1))
        ingest.connection.client()
        base = ingest.calls
        t = time.perf_counter()
        results = ingest.update(
            "Lead", [(rid, {"Status": STATUSES[(i + 1) % 2]}) for i, rid in enumerate(ids)]
        )
        elapsed = time.perf_counter() - t
        line("write updates (Bulk 2.0)", len(results), elapsed, ingest.calls - base, 7)
        print("  (one upsert job on Id: create, upload, close, poll, three result sets)")
        if sum(not r.ok for r in results.results):
            print(f"  {sum(not r.ok for r in results.results)} records not applied")

        bulk = SalesforceAdapter(settings(sandbox, bulk_threshold=1))
        bulk.connection.client()
        base = bulk.calls
        t = time.perf_counter()
        count = sum(len(p.records) for p in bulk.changes("Lead", Watermark(), ["Email", "Status"]))
        print(
            f"{'read changes (Bulk 2.0)':<28} {count:>8} records  {time.perf_counter() - t:7.2f} s  "
            f"{count / (time.perf_counter() - t):9.0f} rec/s  calls {bulk.calls - base}"
        )
        print(
            "  (one REST page shows the size, then one Bulk 2.0 job: describe, create, poll, results pages)"
        )
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def seed_only(n: int) -> None:
    """Hold ``n`` leads in memory and time the first page of ``adapter.changes()`` from compound
    watermarks at the start, middle and end of the SystemModstamp index. This is the query the adapter
    really sends (``WHERE SystemModstamp > t OR (SystemModstamp = t AND Id > id) ORDER BY
    SystemModstamp, Id``, no LIMIT), so the sandbox selects every row after the watermark before
    answering page one: the figure shows how that grows with the rows left."""
    from sandbox.salesforce.models import format_datetime
    from worker.crm.salesforce.cursor import parse_sf_datetime

    with SalesforceSandbox() as sandbox:
        t = time.perf_counter()
        seed_org(sandbox.org, n)
        print(
            f"seeded {n} leads in {time.perf_counter() - t:.1f} s; peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
        adapter = SalesforceAdapter(settings(sandbox))
        adapter.connection.client()
        keys = sandbox.org.stores["Lead"].modstamp.keys
        for label, (ms, rid) in (
            ("oldest", keys[0]),
            ("middle", keys[len(keys) // 2]),
            ("newest", keys[-2001]),
        ):
            mark = Watermark(parse_sf_datetime(str(format_datetime(ms))), rid)
            base = adapter.calls
            t = time.perf_counter()
            pages = adapter.changes("Lead", mark, ["Email"], lookback=dt.timedelta(0), allow_bulk=False)
            first = next(pages)
            elapsed = time.perf_counter() - t
            pages.close()
            print(
                f"changes() first page of {len(first.records)} after the {label} watermark "
                f"({mark.record_id}): {elapsed * 1000:.0f} ms, {adapter.calls - base} call"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--seed-only", type=int, default=0, help="only seed this many leads and time index paging"
    )
    args = parser.parse_args()
    if args.seed_only:
        seed_only(args.seed_only)
    else:
        run(args.leads)
