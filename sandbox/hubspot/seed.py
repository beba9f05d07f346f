"""Deterministic realistic data: contacts (and companies) spread over the last 30 days."""

from __future__ import annotations

import gc
import random

from sandbox.hubspot.models import SYSTEM, Portal
from sandbox.hubspot.properties import LEAD_STATUSES, LIFECYCLE_STAGES

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Linus", "Margaret", "Dennis", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Torvalds", "Hamilton", "Ritchie"]
DOMAINS = ["example.com", "example.org", "example.net", "acme.test", "initech.test"]
DAY_MS = 86_400_000
STAGES = [s for s, _ in LIFECYCLE_STAGES[:6]]
STATUSES = [s for s, _ in LEAD_STATUSES]


def seed_contacts(portal: Portal, count: int, seed: int = 0, *, span_ms: int = 30 * DAY_MS) -> list[int]:
    """Insert ``count`` contacts bypassing HTTP (still validated-by-construction and indexed); their ids.

    Creation times are spread evenly over ``span_ms`` before now, so every contact has its own
    modified millisecond for up to ``span_ms`` contacts.
    """
    rng = random.Random(seed)
    store = portal.stores["contacts"]
    now = portal.clock.now_ms()
    base = len(store.records)
    ids: list[int] = []
    # Millions of small dicts make the cyclic GC rescan the heap over and over; nothing here is cyclic.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for n in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            props = {
                "email": f"{first.lower()}.{last.lower()}.{base + n}@{rng.choice(DOMAINS)}",
                "firstname": first,
                "lastname": last,
                "lifecyclestage": rng.choice(STAGES),
                "hs_lead_status": rng.choice(STATUSES),
            }
            created = now - span_ms + (span_ms * n) // max(count, 1)
            ids.append(store._insert(props, SYSTEM, created_ms=created).id)
    finally:
        if gc_was_enabled:
            gc.enable()
    return ids


def seed_portal(portal: Portal, contacts: int, seed: int = 0, *, span_ms: int = 30 * DAY_MS) -> None:
    """Contacts plus one company per 50 contacts, associated, as ``crmsync sandbox hubspot --seed N`` does.

    ``span_ms``: the contacts' creation (and last modification) times are spread over this long before
    now (a bulk import into one search window: a short span)."""
    ids = seed_contacts(portal, contacts, seed, span_ms=span_ms)
    companies = portal.stores["companies"]
    rng = random.Random(seed + 1)
    for start in range(0, len(ids), 50):
        domain = f"company{start // 50}.{rng.choice(DOMAINS)}"
        name = domain.split(".", maxsplit=1)[0].title()
        company = companies._insert({"name": name, "domain": domain}, SYSTEM)
        for cid in ids[start : start + 50]:
            portal.associate("contacts", cid, "companies", company.id, {279}, SYSTEM)
