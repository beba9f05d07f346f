"""Benchmark: does a backfill worker's memory grow with the number of people? The in-memory part of
a backfill chunk's work, run in this one process for N (1,000,000) synthetic first-sight leads.

A real 1,000,000-lead backfill through the sandboxes is too slow on a 2-core machine (the Salesforce
sandbox answers ``Id > :last ORDER BY Id`` and ``Id IN (…)`` by scanning its records, so every query
costs time in proportion to the org's size). This measures what a worker does with the people
instead, without the CRMs:

1. 200 leads are seeded in the Salesforce sandbox and read once through the real adapter with the
   columns a backfill reads (the map's fields plus the facts' subqueries): the rows the API answers.
2. For each chunk of 200 (``N / 200`` chunks), copies of those rows with their own ids and emails
   are normalised (``salesforce_record``), given their facts (``salesforce_facts``, a backfill's
   ``new_record=False``), planned for first sight (``plan``), and turned into what a chunk keeps: the
   plan's JSON (``plan_to_json``, as a dry run's planned writes and the audit use it), one
   ``AuditEntry`` per field written, the base JSON stored in Redis and the chunk's counters. Nothing is
   kept from one chunk to the next, as in the worker.
3. This process's RSS (``VmRSS``) and peak (``VmHWM``) are printed every tenth of the way.

Not measured here: the HTTP clients, Redis round trips and Celery (the real runs of
``bench/backfill.py`` measure those workers' peak RSS at 100,000 people).

    .venv/bin/python bench/backfill_rss.py [--people 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.sync_service import service_for  # noqa: E402
from sandbox.hubspot.server import HubSpotSandbox  # noqa: E402
from sandbox.salesforce.ids import KEY_PREFIXES, make_id  # noqa: E402
from sandbox.salesforce.seed import seed_org  # noqa: E402
from sandbox.salesforce.server import SalesforceSandbox  # noqa: E402
from worker.crm.salesforce import queries as sf_queries  # noqa: E402
from worker.plan import plan  # noqa: E402
from worker.plan.render import plan_to_json  # noqa: E402
from worker.records import base_to_json, salesforce_record  # noqa: E402
from worker.state.audit import AuditEntry  # noqa: E402
from worker.sync.facts import salesforce_facts  # noqa: E402

CHUNK = 200


def status_mb() -> tuple[float, float]:
    got = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            got[line[:5]] = int(line.split()[1]) / 1024
    return got["VmRSS"], got["VmHWM"]


def template_rows() -> list[dict[str, object]]:
    """Lead rows as the Salesforce API answers a backfill's read (through the real adapter)."""
    with SalesforceSandbox() as sf_box, HubSpotSandbox() as hs_box:
        seed_org(sf_box.org, CHUNK)
        # the service is only built for its column list and adapter; its Redis is never used
        service = service_for(sf_box, hs_box, redis.Redis(host="127.0.0.1", port=1))
        ids = sorted(sf_box.org.stores["Lead"].records)
        columns = [*service.sf_fields["Lead"], *sf_queries.facts_columns("Lead", service.sf.calls_subquery)]
        rows = list(service.sf.fetch("Lead", ids, columns).records.values())
        return [dict(r) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = template_rows()
    from worker.mapping import load_map

    cmap = load_map(str(ROOT / "mappings" / "default.yaml"))
    start_rss, _ = status_mb()
    print(
        f"templates: {len(rows)} lead rows read through the adapter; RSS before the loop {start_rss:.0f} MB"
    )
    step = max(CHUNK, args.people // 10 // CHUNK * CHUNK)
    t0 = time.perf_counter()
    done = 0
    samples: list[tuple[int, float, float]] = []
    while done < args.people:
        writes: Counter[str] = Counter()
        kept: list[str] = []
        for j in range(min(CHUNK, args.people - done)):
            n = done + j
            row = dict(rows[n % len(rows)])
            row["Id"] = make_id(KEY_PREFIXES["Lead"], 30_000_000 + n)
            row["Email"] = f"person.{n}@example.com"
            record = salesforce_record(row)
            facts = salesforce_facts(row, new_record=False)
            p = plan(record, None, None, facts, cmap)
            kept.append(json.dumps(plan_to_json(p, cmap)))
            kept.append(json.dumps(base_to_json(p.new_base)))
            for w in p.writes:
                writes[w.side] += 1
                for c in w.changes:
                    e = AuditEntry(
                        "backfill-x",
                        "backfill",
                        f"sf:Lead:{row['Id']}",
                        w.side,
                        w.object_type,
                        str(w.record_id or ""),
                        c.field,
                        None,
                        str(c.value or ""),
                        c.cause.ref,
                    )
                    kept.append(json.dumps(e.fields()))
        done += min(CHUNK, args.people - done)
        if done % step == 0 or done == args.people:
            rss, hwm = status_mb()
            samples.append((done, rss, hwm))
            print(f"  {done:>9,} people: RSS {rss:.0f} MB, peak {hwm:.0f} MB", flush=True)
    seconds = time.perf_counter() - t0
    first, last = samples[0], samples[-1]
    print(
        f"chunk work for {args.people:,} people in {seconds:.0f} s: peak RSS {last[2]:.0f} MB "
        f"(limit 300 MB: {last[2] / 300:.2f}); RSS {first[1]:.0f} MB after {first[0]:,} and {last[1]:.0f} MB "
        f"after {last[0]:,} people: grew {last[1] - first[1]:+.1f} MB; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
