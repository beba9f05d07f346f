"""The last Salesforce API usage reading (``Sforce-Limit-Info``), shared by every worker through Redis.

The header already reports org-wide usage, so each worker learns the total from its own calls; sharing
the latest reading lets a freshly started worker respect the configured share before its first call.
Each reading is stored with the wall-clock time it was observed, so a reader can tell a stale refusal
(older than its recheck interval) from a fresh one and let one probe call through. Keys also expire
after ``ttl_seconds`` so dead orgs do not linger.
"""

from __future__ import annotations

from typing import Any


class ApiUsageStore:
    def __init__(
        self, client: Any, *, prefix: str = "crmsync:salesforce:api-usage", ttl_seconds: int = 86_400
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def _key(self, org: str) -> str:
        return f"{self.prefix}:{org}"

    def record(self, org: str, used: int, total: int, observed_at: float) -> None:
        self.client.set(self._key(org), f"{used}/{total}/{observed_at:.3f}", ex=self.ttl_seconds)

    def latest(self, org: str) -> tuple[int, int, float] | None:
        raw = self.client.get(self._key(org))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        parts = text.split("/")
        if len(parts) != 3:
            return None  # a reading written before observation times were stored: treat as unknown
        return int(parts[0]), int(parts[1]), float(parts[2])
