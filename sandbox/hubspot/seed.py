"""Deterministic realistic data: contacts (and a few companies/deals) spread over the last 30 days."""

from __future__ import annotations

import random

from sandbox.hubspot.models import Portal
from sandbox.hubspot.properties import LEAD_STATUSES, LIFECYCLE_STAGES

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Linus", "Margaret", "Dennis", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Torvalds", "Hamilton", "Ritchie"]
DOMAINS = ["example.com", "example.org", "example.net", "acme.test", "initech.test"]
DAY_MS = 86_400_000


def seed_contacts(portal: Portal, count: int, seed: int = 0, *, span_ms: int = 30 * DAY_MS) -> list[int]:
    """Insert ``count`` contacts bypassing the HTTP layer (still indexed); returns their ids."""
    rng = random.Random(seed)
    store = portal.stores["contacts"]
    now = portal.clock.now_ms()
    stages = [s for s, _ in LIFECYCLE_STAGES[:6]]
    statuses = [s for s, _ in LEAD_STATUSES]
    base = len(store.records)
    ids = []
    for n in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        i = base + n
        props = {
            "email": f"{first.lower()}.{last.lower()}.{i}@{rng.choice(DOMAINS)}",
            "firstname": first,
            "lastname": last,
            "lifecyclestage": rng.choice(stages),
            "hs_lead_status": rng.choice(statuses),
        }
        created = now - span_ms + (span_ms * n) // max(count, 1)
        ids.append(store._insert(props, _SEED_ACTOR, created_ms=created).id)
    return ids


def seed_portal(portal: Portal, contacts: int, seed: int = 0) -> None:
    """Contacts plus one company per 50 contacts, associated, as ``crmsync sandbox hubspot --seed N`` does."""
    ids = seed_contacts(portal, contacts, seed)
    companies = portal.stores["companies"]
    rng = random.Random(seed + 1)
    for start in range(0, len(ids), 50):
        domain = f"company{start // 50}.{rng.choice(DOMAINS)}"
        company = companies._insert(
            {"name": domain.split(".", maxsplit=1)[0].title(), "domain": domain}, _SEED_ACTOR
        )
        for cid in ids[start : start + 50]:
            portal.associate("contacts", cid, "companies", company.id, {279}, _SEED_ACTOR)


from sandbox.hubspot.models import SYSTEM as _SEED_ACTOR  # noqa: E402
