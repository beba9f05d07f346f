"""API usage tracking from ``Sforce-Limit-Info: api-usage=N/M`` and the configured share of it.

The header reports the org-wide count of the rolling 24 h allocation (api_rest headers_api_usage.htm),
so every worker sees every other integration's usage too: a worker stops once
``used >= share x allocation``, leaving the rest to the org's other integrations. An optional shared
store (``worker.state.api_usage``) passes the latest reading to workers that have not called yet.
A refusal is re-checked after ``recheck_seconds`` (one probe call), since the rolling window frees calls
over time and only a call can tell: readings carry their observation time, in the store too, and a
reading older than ``recheck_seconds`` is stale wherever it comes from.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from worker.errors import QuotaExhaustedError

_USAGE_RE = re.compile(r"[^-]?api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class Usage:
    used: int
    total: int


class UsageStore(Protocol):
    def record(self, org: str, used: int, total: int, observed_at: float) -> None: ...

    def latest(self, org: str) -> tuple[int, int, float] | None: ...


def parse_limit_info(header: str | None) -> Usage | None:
    if not header:
        return None
    m = _USAGE_RE.match(header)
    return Usage(int(m.group(1)), int(m.group(2))) if m else None


class ApiBudget:
    def __init__(
        self, share: float, *, recheck_seconds: float = 600.0, store: UsageStore | None = None, org: str = ""
    ) -> None:
        self.share = share
        self.recheck_seconds = recheck_seconds
        self.store = store
        self.org = org
        self._lock = threading.Lock()
        self.latest: Usage | None = None
        self._observed_at = 0.0

    def observe(self, usage: Usage | None) -> None:
        if usage is None:
            return
        with self._lock:
            self.latest = usage
            self._observed_at = time.monotonic()
        if self.store is not None and self.org:
            self.store.record(self.org, usage.used, usage.total, time.time())

    def _reading(self) -> Usage | None:
        """The latest reading younger than ``recheck_seconds`` (ours, else the shared one)."""
        if self.latest is not None and time.monotonic() - self._observed_at < self.recheck_seconds:
            return self.latest
        if self.store is not None and self.org:
            shared = self.store.latest(self.org)
            if shared is not None:
                used, total, observed_at = shared
                if time.time() - observed_at < self.recheck_seconds:
                    return Usage(used, total)
        return None  # unknown or stale: let one call through to learn the current usage

    def check(self) -> None:
        """Raise QuotaExhaustedError when our share of the daily allocation is used up."""
        reading = self._reading()
        if reading is None:
            return
        allowed = int(reading.total * self.share)
        if reading.used >= allowed:
            raise QuotaExhaustedError(
                f"Salesforce API usage {reading.used}/{reading.total} has reached this worker's share "
                f"({self.share:.0%} = {allowed}); stopping until the rolling 24 h allocation frees up",
                code="API_SHARE_EXHAUSTED",
            )
