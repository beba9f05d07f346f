"""Which changed records a CRM change reader has delivered already, shared by every worker process.

The HubSpot reader re-reads a lookback zone each poll to catch records the search index surfaced late
(``worker.crm.hubspot.cursor``); keys it delivered before are skipped. Kept in Redis, a new process (or
another worker) resuming from the saved cursor skips them too instead of re-delivering the zone.

Redis layout: ``crmsync:delivered:{crm}:{name}`` — a sorted set of ``"{modified_ms}:{id}"`` members
scored by ``modified_ms``. Members older than the horizon the reader passes are trimmed on each write,
so the set holds only the current lookback zone's keys; the key expires ``ttl_s`` after the last write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

CHUNK = 5_000


class RedisDelivered:
    """``seen`` / ``remember`` over one sorted set (the ``DeliveredMemory`` protocol of the reader)."""

    def __init__(self, redis: Any, name: str, *, crm: str = "hubspot", ttl_s: int = 86_400) -> None:
        self.redis = redis
        self.key = f"crmsync:delivered:{crm}:{name}"
        self.ttl_s = ttl_s

    @staticmethod
    def _member(key: tuple[int, int]) -> str:
        return f"{key[0]}:{key[1]}"

    def seen(self, keys: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        for i in range(0, len(keys), CHUNK):
            part = list(keys[i : i + CHUNK])
            scores = self.redis.zmscore(self.key, [self._member(k) for k in part])
            out.update(k for k, score in zip(part, scores, strict=True) if score is not None)
        return out

    def remember(self, keys: Iterable[tuple[int, int]], *, forget_before_ms: int) -> None:
        items = list(keys)
        pipe = self.redis.pipeline(transaction=False)
        for i in range(0, len(items), CHUNK):
            pipe.zadd(self.key, {self._member(k): k[0] for k in items[i : i + CHUNK]})
        pipe.zremrangebyscore(self.key, "-inf", f"({forget_before_ms}")
        pipe.expire(self.key, self.ttl_s)
        pipe.execute()

    def size(self) -> int:
        return int(self.redis.zcard(self.key))
