"""Deterministic, realistic seed data: leads, accounts, contacts, opportunities, tasks and events.

Same ``(count, seed)`` gives the same records (ids included, on a fresh org). Timestamps are spread over
the last ~20 days in increasing order, so seeding 1,000,000 leads appends to the modstamp index.
"""

from __future__ import annotations

import random

from sandbox.salesforce.models import Org

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
    "Shafi",
    "Leslie",
    "Sophie",
    "Dennis",
    "Karen",
    "John",
    "Mary",
    "Seamus",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Berners-Lee",
    "Goldwasser",
    "Lamport",
    "Wilson",
    "Ritchie",
    "O'Brien",
    "Backus",
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Aperture",
    "Oscorp",
    "Massive Dynamic",
]
STATUSES = ["Open - Not Contacted", "Open", "Contacted", "Working", "Meeting Set", "Qualified"]
STAGES = ["Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Subscriber"]


def seed_org(org: Org, count: int, seed: int = 0) -> dict[str, int]:
    """Create ``count`` leads plus related records; returns how many of each were made."""
    rng = random.Random(seed)
    made = {"Lead": 0, "Account": 0, "Contact": 0, "Opportunity": 0, "Task": 0, "Event": 0}
    if count <= 0:
        return made
    owner = org.admin_id
    span_ms = 20 * 86_400_000
    start = org.now_ms() - span_ms
    step = max(1, span_ms // max(count, 1)) // 1000 * 1000 or 1000
    accounts: list[str] = []
    for i in range(max(1, count // 20)):
        acc = org.create_raw(
            "Account",
            {
                "Name": f"{COMPANIES[i % len(COMPANIES)]} {i}",
                "Type": rng.choice(["Prospect", "Customer", "Other"]),
            },
            owner,
            at_ms=start,
        )
        accounts.append(acc)
        made["Account"] += 1
    for i in range(count):
        at = start + i * step if count * step < span_ms else start + (i * span_ms // count) // 1000 * 1000
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{i}@example.com".lower().replace(" ", "")
        lead = org.create_raw(
            "Lead",
            {
                "FirstName": first,
                "LastName": last,
                "Company": rng.choice(COMPANIES),
                "Email": email,
                "Status": rng.choice(STATUSES),
                "Lead_Stage__c": rng.choice(STAGES),
                "LeadSource": rng.choice(["Web", "Phone Inquiry", "Partner Referral", "Other"]),
            },
            owner,
            at_ms=at,
        )
        made["Lead"] += 1
        roll = rng.random()
        if roll < 0.10:
            org.create_raw(
                "Task",
                {  # "Log a Call": TaskSubtype Call; Type is often left empty (every other one here)
                    "WhoId": lead,
                    "Subject": "Call",
                    "TaskSubtype": "Call",
                    "Type": "Call" if made["Task"] % 2 == 0 else None,
                    "Status": rng.choice(["Completed", "Not Started"]),
                },
                owner,
                at_ms=at,
            )
            made["Task"] += 1
        elif roll < 0.15:
            org.create_raw(
                "Event",
                {"WhoId": lead, "Subject": "Meeting", "StartDateTime": at + 86_400_000},
                owner,
                at_ms=at,
            )
            made["Event"] += 1
        if i % 50 == 0:
            acc = rng.choice(accounts)
            contact = org.create_raw(
                "Contact",
                {
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"c.{email}",
                    "AccountId": acc,
                    "Lead_Stage__c": "Opportunity",
                },
                owner,
                at_ms=at,
            )
            made["Contact"] += 1
            org.create_raw(
                "Opportunity",
                {
                    "Name": f"Deal {i}",
                    "AccountId": acc,
                    "ContactId": contact,
                    "CloseDate": "2026-12-31",
                    "StageName": rng.choice(
                        ["Prospecting", "Negotiation/Review", "Closed Won", "Closed Lost"]
                    ),
                },
                owner,
                at_ms=at,
            )
            made["Opportunity"] += 1
    return made
