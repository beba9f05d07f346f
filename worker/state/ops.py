"""What the operator's surfaces read (and the little they record): every cursor, the last poll of
each CRM, the Salesforce API readings of every org, the Celery broker's queue lengths, and the
HubSpot limiter's current window."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from worker.state import keys

# Celery's Redis transport keeps a queue's messages in a list named after it, plus one list per extra
# priority step (``<queue>\x06\x16<n>``, steps 3, 6 and 9 by default).
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


class OpsReads:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def cursors(self) -> dict[str, dict[str, dict[str, Any]]]:
        """crm → reader name → cursor document."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        prefix = keys.cursor("", "")[:-1]  # "crmsync:cursor:"
        found = sorted(keys.text(k) or "" for k in self.redis.scan_iter(match=prefix + "*", count=500))
        if not found:
            return out
        for key, raw in zip(found, self.redis.mget(found), strict=True):
            crm, _, name = key[len(prefix) :].partition(":")
            text = keys.text(raw)
            if text is not None:
                out.setdefault(crm, {})[name] = json.loads(text)
        return out

    def salesforce_usage(self) -> dict[str, tuple[int, int, float]]:
        """org → (used, total, observed at epoch s): the latest ``Sforce-Limit-Info`` of each org."""
        out: dict[str, tuple[int, int, float]] = {}
        prefix = "crmsync:salesforce:api-usage:"
        for k in self.redis.scan_iter(match=prefix + "*", count=100):
            text = keys.text(self.redis.get(k))
            parts = (text or "").split("/")
            if len(parts) == 3:
                out[(keys.text(k) or "")[len(prefix) :]] = (int(parts[0]), int(parts[1]), float(parts[2]))
        return out

    def hubspot_window(self, limiter_name: str = "hubspot") -> int:
        """Calls the shared limiter granted in the last ten seconds."""
        now_ms = int(time.time() * 1000)
        return int(self.redis.zcount(f"crmsync:ratelimit:{limiter_name}:10s", now_ms - 10_000, "+inf"))


class PollLog:
    """The last result of each CRM's poll (``{"at": epoch ms, ...result}``), for ``status``."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def record(self, crm: str, result: dict[str, Any]) -> None:
        doc = {"at": int(time.time() * 1000), **result}
        self.redis.set(keys.last_poll(crm), json.dumps(doc, sort_keys=True, default=str))

    def last(self, crm: str) -> dict[str, Any] | None:
        raw = keys.text(self.redis.get(keys.last_poll(crm)))
        return json.loads(raw) if raw is not None else None


def broker_depths(broker: Any, queues: tuple[str, ...]) -> dict[str, int]:
    """Messages waiting per Celery queue on a Redis broker (every priority step counted)."""
    pipe = broker.pipeline(transaction=False)
    for q in queues:
        pipe.llen(q)
        for step in PRIORITY_STEPS:
            pipe.llen(f"{q}{PRIORITY_SEPARATOR}{step}")
    counts = pipe.execute()
    per = 1 + len(PRIORITY_STEPS)
    return {q: sum(counts[i * per : (i + 1) * per]) for i, q in enumerate(queues)}


def based_people(redis: Any, batch: int = 1000) -> Iterator[list[str]]:
    """Person ids with a stored base, in batches (a SCAN: constant memory, no order)."""
    prefix = keys.base("")
    found: list[str] = []
    for k in redis.scan_iter(match=prefix + "*", count=batch):
        found.append((keys.text(k) or "")[len(prefix) :])
        if len(found) >= batch:
            yield found
            found = []
    if found:
        yield found
