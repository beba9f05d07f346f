"""API usage tracking from ``Sforce-Limit-Info: api-usage=N/M`` and the configured share of it.

The header reports the org-wide count of the rolling 24 h allocation (api_rest headers_api_usage.htm),
so every worker sees every other integration's usage too and no shared store is needed: a worker stops
once ``used >= share x allocation``, leaving the rest to the org's other integrations.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from worker.errors import QuotaExhaustedError

_USAGE_RE = re.compile(r"[^-]?api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class Usage:
    used: int
    total: int


def parse_limit_info(header: str | None) -> Usage | None:
    if not header:
        return None
    m = _USAGE_RE.match(header)
    return Usage(int(m.group(1)), int(m.group(2))) if m else None


class ApiBudget:
    def __init__(self, share: float) -> None:
        self.share = share
        self._lock = threading.Lock()
        self.latest: Usage | None = None

    def observe(self, usage: Usage | None) -> None:
        if usage is None:
            return
        with self._lock:
            self.latest = usage

    @property
    def allowed(self) -> int | None:
        return None if self.latest is None else int(self.latest.total * self.share)

    def check(self) -> None:
        """Raise QuotaExhaustedError when our share of the daily allocation is used up."""
        latest = self.latest
        if latest is None:
            return
        allowed = int(latest.total * self.share)
        if latest.used >= allowed:
            raise QuotaExhaustedError(
                f"Salesforce API usage {latest.used}/{latest.total} has reached this worker's share "
                f"({self.share:.0%} = {allowed}); stopping until the rolling 24 h allocation frees up",
                code="API_SHARE_EXHAUSTED",
            )
