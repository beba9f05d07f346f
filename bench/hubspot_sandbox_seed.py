"""Seed the HubSpot sandbox with up to 1,000,000 contacts and time indexed searches over HTTP.

Run: ``.venv/bin/python bench/hubspot_sandbox_seed.py [--contacts 1000000]``
Prints seeding time, peak RSS, and the latency of searches the worker and operators make
(email lookup, Salesforce-id lookup, a modified-time window page, a lifecycle-stage filter).
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

from sandbox.hubspot.seed import seed_contacts
from sandbox.hubspot.server import HubSpotSandbox


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    with HubSpotSandbox() as sb:
        sb.configure(tier="unlimited")
        t0 = time.perf_counter()
        with sb.backend.lock:
            ids = seed_contacts(sb.portal, args.contacts)
            sample = sb.portal.stores["contacts"].records[ids[len(ids) // 2]].props["email"]
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(
            f"seeded {args.contacts:,} contacts in {time.perf_counter() - t0:.1f} s; peak RSS {rss_mb:,} MB"
        )
        search = sb.client().crm.contacts.search_api.do_search
        hour_ago = str(int(time.time() * 1000) - 3_600_000)

        def one(prop: str, op: str, value: str, **extra: Any) -> dict[str, Any]:
            body: dict[str, Any] = {
                "filterGroups": [{"filters": [{"propertyName": prop, "operator": op, "value": value}]}]
            }
            body.update(extra)
            return body

        cases = {
            "email EQ": one("email", "EQ", sample),
            "salesforce_lead_id EQ": one("salesforce_lead_id", "EQ", "00Q000000000001"),
            "lastmodifieddate window, 200/page": one(
                "lastmodifieddate", "GTE", hour_ago, limit=200, sorts=[{"propertyName": "lastmodifieddate"}]
            ),
            "lifecyclestage EQ (167k matches)": one("lifecyclestage", "EQ", "customer", limit=200),
        }
        for name, body in cases.items():
            res, ms = timed(lambda b=body: search(b))
            print(f"search {name}: total {res.total:,}, {ms:.1f} ms")


if __name__ == "__main__":
    main()
