"""The last Salesforce API usage reading (``Sforce-Limit-Info``), shared by every worker through Redis.

The header already reports org-wide usage, so each worker learns the total from its own calls; sharing
the latest reading lets a freshly started worker respect the configured share before its first call.
Readings expire after ``ttl_seconds`` so a worker that stopped for the share re-probes once the rolling
24 h window may have freed calls (otherwise nobody would ever call again to learn that).
"""

from __future__ import annotations

from typing import Any


class ApiUsageStore:
    def __init__(
        self, client: Any, *, prefix: str = "crmsync:salesforce:api-usage", ttl_seconds: int = 600
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def _key(self, org: str) -> str:
        return f"{self.prefix}:{org}"

    def record(self, org: str, used: int, total: int) -> None:
        self.client.set(self._key(org), f"{used}/{total}", ex=self.ttl_seconds)

    def latest(self, org: str) -> tuple[int, int] | None:
        raw = self.client.get(self._key(org))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        used, _, total = text.partition("/")
        return int(used), int(total)
