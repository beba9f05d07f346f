"""Benchmark: the Salesforce sandbox answering the backfill enumeration (``SELECT Id FROM Lead WHERE
Id > 'X' ORDER BY Id LIMIT 2000``, ``worker/ops/backfill.py``) with and without its ordered Id index.

Leads are seeded through the engine (``Org.create_raw``), then the enumeration's pages run through the
SOQL executor in process (no HTTP: the figure is the sandbox's own cost). Without the index every page
scans every lead, so only a few pages spread over the id range are timed; with it, the whole range is
walked. Prints ids/s for both and the speed-up, and the indexed rate as a ratio to 20,000 ids/s (ten
times the fastest backfill measured through the sandboxes, README "Sizing and performance").

    .venv/bin/python bench/salesforce_sandbox_scan.py [--leads 100000 1000000] [--slow-pages 4]
"""

from __future__ import annotations

import argparse
import time

from sandbox.salesforce.engine import Compiled, run_query
from sandbox.salesforce.models import Org
from worker.ops.backfill import SF_PAGE

LIMIT_IDS_PER_S = 20_000
T0 = 1_767_225_600_000


def seed(n: int) -> tuple[Org, list[str]]:
    org = Org()
    ids = [
        org.create_raw("Lead", {"LastName": f"L{i}", "Company": "Acme"}, org.admin_id, at_ms=T0 + i)
        for i in range(n)
    ]
    return org, ids


def page(org: Org, after: str) -> list[str]:
    where = f" WHERE Id > '{after}'" if after else ""
    text = f"SELECT Id FROM Lead{where} ORDER BY Id LIMIT {SF_PAGE}"
    return [str(r["Id"]) for r in run_query(org, text, "62.0", False, SF_PAGE)["records"]]


def walk(org: Org) -> tuple[int, float]:
    start, after, total = time.perf_counter(), "", 0
    while ids := page(org, after):
        total, after = total + len(ids), ids[-1]
    return total, time.perf_counter() - start


def sampled(org: Org, ids: list[str], pages: int) -> tuple[int, float]:
    """``pages`` pages starting at evenly spread positions (each a full scan without the index)."""
    starts = [ids[len(ids) * k // (pages + 1)] for k in range(1, pages + 1)]
    begin, total = time.perf_counter(), 0
    for after in starts:
        total += len(page(org, after))
    return total, time.perf_counter() - begin


def run(n: int, slow_pages: int) -> None:
    t = time.perf_counter()
    org, ids = seed(n)
    print(f"leads {n:>9,}  seeded in {time.perf_counter() - t:6.1f} s")
    Compiled.use_id_index = False
    rows, seconds = sampled(org, ids, slow_pages)
    before = rows / seconds
    Compiled.use_id_index = True
    fast_rows, fast_seconds = walk(org)
    assert fast_rows == n, (fast_rows, n)
    after = fast_rows / fast_seconds
    print(
        f"leads {n:>9,}  scan (before) {before:>10,.0f} ids/s ({rows:,} ids in {slow_pages} pages)  "
        f"index (after) {after:>10,.0f} ids/s ({fast_rows:,} ids, whole range, {fast_seconds:.2f} s)  "
        f"speed-up {after / before:,.0f}x  index vs {LIMIT_IDS_PER_S:,} ids/s: "
        f"{after / LIMIT_IDS_PER_S:.1f}x {'OK' if after >= LIMIT_IDS_PER_S else 'UNDER'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--slow-pages", type=int, default=4)
    args = parser.parse_args()
    for n in args.leads:
        run(n, args.slow_pages)


if __name__ == "__main__":
    main()
