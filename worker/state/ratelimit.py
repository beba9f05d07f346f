"""A rate limiter shared by every worker process through Redis.

HubSpot limits an app to N requests per rolling 10 seconds (100/190/250 by tier), search to about
5 requests per second per account, and an account to a daily total [A, DOCS-USAGE; B, search limit].
Each worker asks ``acquire()`` before a call; one Lua script (atomic in Redis, timed by Redis's own
clock so processes on different hosts agree) checks the sliding-window logs and the daily counter and
records the call only if all allow it. Configure budgets below the portal's limits; ``observe()``
feeds the response headers back so a server that says "0 remaining" pauses everyone for the interval.
The daily counter resets at UTC midnight (HubSpot resets at midnight in the portal's time zone [A];
keep the daily budget below the limit to absorb the difference).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.errors import QuotaExhaustedError, RetriableError

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause = redis.call('PTTL', KEYS[4])
if pause > 0 then return pause end
local max10 = tonumber(ARGV[1])
local max1 = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10000)
if redis.call('ZCARD', KEYS[1]) >= max10 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + 10000 - now)
end
if max1 > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
  if redis.call('ZCARD', KEYS[2]) >= max1 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(oldest[2]) + 1000 - now)
  end
end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
if used >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], 11000)
if max1 > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], 2000)
end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], 90000000)
return 0
"""


class RateLimitTimeoutError(RetriableError):
    """No slot within ``timeout_s``: a CrmError, so callers' retry policies classify it like a 429."""


@dataclass(frozen=True)
class RateBudget:
    """Budgets shared by all workers for one portal (set below the portal's published limits)."""

    per_ten_seconds: int = 170
    search_per_second: int = 4
    daily: int = 500_000


class RedisRateLimiter:
    """Sliding-window limiter for one portal, shared across processes via one Redis key family.

    ``acquire(search=...)`` blocks until the call fits every window (raising ``QuotaExhaustedError``
    when the daily budget is spent, or ``RateLimitTimeoutError`` — a ``RetriableError`` — after
    ``timeout_s``).
    """

    def __init__(self, redis: Any, name: str, budget: RateBudget) -> None:
        self.redis = redis
        self.name = name
        self.budget = budget
        self._script = redis.register_script(_SCRIPT)

    def _keys(self) -> list[str]:
        day = datetime.now(UTC).strftime("%Y%m%d")
        p = f"crmsync:ratelimit:{self.name}"
        return [f"{p}:10s", f"{p}:search1s", f"{p}:daily:{day}", f"{p}:pause"]

    def try_acquire(self, *, search: bool = False) -> float:
        """0 when granted, else seconds to wait; raises QuotaExhaustedError when the day is spent."""
        result = int(
            self._script(
                keys=self._keys(),
                args=[
                    self.budget.per_ten_seconds,
                    self.budget.search_per_second if search else 0,
                    self.budget.daily,
                    uuid.uuid4().hex,
                ],
            )
        )
        if result < 0:
            raise QuotaExhaustedError(
                f"HubSpot daily budget of {self.budget.daily} calls is used up for {self.name}", code="DAILY"
            )
        return result / 1000

    def acquire(self, *, search: bool = False, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            wait = self.try_acquire(search=search)
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise RateLimitTimeoutError(
                    f"rate limiter {self.name}: no slot within {timeout_s}s",
                    code="LIMITER_TIMEOUT",
                    wait_seconds=wait,
                )
            time.sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Honour the server's view: when it reports 0 remaining, pause every worker for the interval."""
        lower = {k.lower(): v for k, v in headers.items()}
        remaining = lower.get("x-hubspot-ratelimit-remaining")
        interval = lower.get("x-hubspot-ratelimit-interval-milliseconds")
        if remaining is not None and interval and remaining.strip() == "0":
            self.redis.set(self._keys()[3], "1", px=int(interval))

    def used_today(self) -> int:
        return int(self.redis.get(self._keys()[2]) or 0)
