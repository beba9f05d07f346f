"""Plans per second for a realistic mix of 100,000 record pairs, on one core.

Target (issue 2): >= 50,000 plans/s, so planning is never the bottleneck of a sync bounded by API calls.
The mix (deterministic): 55 % nothing mapped changed, 20 % one field edited on one side, 10 % stage or
status moved (rules fire), 7 % fact events (calls, meetings, opportunities), 5 % conflicts, 3 % creates.
Prints plans per CPU-second (process time, so other load on the machine does not skew it) for plan()
alone and for normalisation from raw JSON + plan().

    python bench/plan.py [--pairs N] [--map mappings/default.yaml]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from pathlib import Path
from typing import Any

from worker.mapping import CompiledMap, load_map
from worker.plan import plan
from worker.records import Base, Facts, Opportunity, hubspot_record, salesforce_record

ROOT = Path(__file__).resolve().parent.parent


def vocabulary(cmap: CompiledMap) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Stages and statuses the map gives a value on both sides: (Salesforce, HubSpot, canonical)."""
    stages = [(s.salesforce, s.hubspot, s.id) for s in cmap.stages.values() if s.salesforce and s.hubspot]
    statuses = [(s.salesforce, s.hubspot, s.id) for s in cmap.statuses.values() if s.salesforce and s.hubspot]
    return stages[1:5], statuses[:3]  # type: ignore[return-value]


def make_pair(i: int, rng: random.Random, cmap: CompiledMap) -> tuple[Any, Any, Base | None, Facts]:
    stages, statuses = vocabulary(cmap)
    sf_stage, hs_stage, stage = rng.choice(stages)
    sf_status, hs_status, status = rng.choice(statuses)
    email = f"person{i}@example.com"
    sf = {
        "attributes": {"type": "Lead"},
        "Id": f"00Q{i:015d}",
        "Email": email,
        "FirstName": "Ada",
        "LastName": f"L{i}",
        "Company": "Acme",
        "Phone": "555",
        "Title": "CTO",
        "Status": sf_status,
        "Lead_Stage__c": sf_stage,
        "HubSpot_Contact_ID__c": str(i),
        "SystemModstamp": "2026-11-20T09:00:00.000+0000",
    }
    hs = {
        "id": str(i),
        "properties": {
            "email": email,
            "firstname": "Ada",
            "lastname": f"L{i}",
            "company": "Acme",
            "phone": "555",
            "jobtitle": "CTO",
            "lifecyclestage": hs_stage,
            "hs_lead_status": hs_status,
            "salesforce_lead_id": f"00Q{i:015d}",
        },
        "updatedAt": "2026-11-20T08:00:00.000Z",
    }
    values = {
        "stage": stage,
        "status": status,
        "email": email,
        "first_name": "Ada",
        "last_name": f"L{i}",
        "company": "Acme",
        "phone": "555",
        "title": "CTO",
        "unqualified_reason": None,
    }
    # As the previous sync left it: canonical values plus what each side held.
    sf_side = {**values, "stage": sf_stage, "status": sf_status}
    hs_side = {**values, "stage": hs_stage, "status": hs_status}
    base: Base | None = Base(values=values, salesforce_values=sf_side, hubspot_values=hs_side)
    facts = Facts()
    roll = rng.random()
    if roll < 0.55:
        pass
    elif roll < 0.75:
        if rng.random() < 0.5:
            sf["Phone"] = f"555-{i}"
        else:
            hs["properties"]["jobtitle"] = "VP"
    elif roll < 0.85:
        if rng.random() < 0.5:
            sf["Status"] = statuses[-1][0]
        else:
            hs["properties"]["lifecyclestage"] = stages[-1][1]
    elif roll < 0.92:
        facts = Facts(completed_calls=frozenset({"00T1"}), opportunities=(Opportunity("006A"),))
    elif roll < 0.97:
        sf["Phone"], hs["properties"]["phone"] = "111", "222"
    else:
        base = None
        hs = None  # type: ignore[assignment]
    return sf, hs, base, facts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--map", default=str(ROOT / "mappings" / "default.yaml"))
    args = parser.parse_args()
    cmap = load_map(args.map)
    rng = random.Random(42)
    raw = [make_pair(i, rng, cmap) for i in range(args.pairs)]

    gc.collect()
    start = time.process_time()
    pairs = [
        (salesforce_record(sf), hubspot_record(hs) if hs else None, base, facts)
        for sf, hs, base, facts in raw
    ]
    normalise_s = time.process_time() - start

    gc.collect()
    start = time.process_time()
    writes = 0
    for sf, hs, base, facts in pairs:
        result = plan(sf, hs, base, facts, cmap)
        writes += len(result.salesforce) + len(result.hubspot)
    plan_s = time.process_time() - start

    n = args.pairs
    print(f"map: {cmap.name}  pairs: {n:,}  writes planned: {writes:,}")
    print(f"plan():               {n / plan_s:,.0f} plans/s  ({plan_s * 1e6 / n:.1f} us/plan)")
    print(f"normalise + plan():   {n / (plan_s + normalise_s):,.0f} plans/s")
    verdict = "meets" if n / plan_s >= 50_000 else "MISSES"
    print(f"target >= 50,000 plans/s for plan(): {verdict}")


if __name__ == "__main__":
    main()
