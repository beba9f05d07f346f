"""A rate limiter shared by every worker process through Redis.

HubSpot limits an app to N requests per rolling 10 seconds (100/190/250 by tier), search to about
5 requests per second per account, and an account to a daily total [A, DOCS-USAGE; B, search limit].
Each worker asks ``acquire()`` before a call and hands the ticket to ``release()`` with the answer;
Lua scripts (atomic in Redis, timed by Redis's own clock so processes on different hosts agree) keep
one log per window of the calls that HubSpot may still be counting. HubSpot counts a call when it
arrives, some time between the grant and the answer (later still on a loaded machine, where a granted
call waits for its thread), so a call's entry stands for "in flight" until it is released and then
for the window's length after its answer: every call HubSpot counts in any window was in the log, all
at once, when the last of them was granted, so the portal never sees more than the budget however
late calls go out. ``observe()`` feeds the response headers back: when HubSpot reports more calls in
its window than the log holds (calls from outside the limiter), the difference is entered as calls
made now, so workers wait only until enough of the window rolls off rather than a whole interval.
The daily counter resets at UTC midnight (HubSpot resets at midnight in the portal's time zone [A];
keep the daily budget below the limit to absorb the difference).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from worker.errors import QuotaExhaustedError, RetriableError

log = logging.getLogger(__name__)

# Redis's clock in ms, and a window's wait: entries scored after ``now`` are in flight, and free a slot
# no sooner than one window after their answer, so no sooner than one window from now.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function wait_for(key, span, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
  if redis.call('ZCARD', key) < limit then return 0 end
  local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  return math.max(1, math.min(oldest, now) + span - now)
end
"""

_ACQUIRE = (
    _PRELUDE
    + """
local max1 = tonumber(ARGV[2])
local hold = tonumber(ARGV[5])
local wait = wait_for(KEYS[1], 10000, tonumber(ARGV[1]))
if wait > 0 then return wait end
if max1 > 0 then
  wait = wait_for(KEYS[2], 1000, max1)
  if wait > 0 then return wait end
end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
if used >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[1], now + hold, ARGV[4])
redis.call('PEXPIRE', KEYS[1], hold + 11000)
if max1 > 0 then
  redis.call('ZADD', KEYS[2], now + hold, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], hold + 2000)
end
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], 90000000)
return 0
"""
)

# The answer is back (ARGV[1], unless empty): HubSpot counted the call by now, so it counts for one
# window from now. HubSpot says its window holds ARGV[2] calls: the ones the log lacks (made outside
# the limiter) are entered as made now.
_RELEASE = (
    _PRELUDE
    + """
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
  redis.call('ZADD', KEYS[2], 'XX', now, ARGV[1])
end
local seen = tonumber(ARGV[2])
if seen <= 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10000)
local missing = seen - redis.call('ZCARD', KEYS[1])
for i = 1, missing do redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. i) end
if missing > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) + 11000) end
return math.max(0, missing)
"""
)


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

    ``acquire(search=...)`` blocks until the call fits every window and returns a ticket for
    ``release()`` (raising ``QuotaExhaustedError`` when the daily budget is spent, or
    ``RateLimitTimeoutError`` — a ``RetriableError`` — after ``timeout_s``). A ticket never released
    (its process died mid-call) stands for ``hold_s`` plus the window.
    """

    def __init__(self, redis: Any, name: str, budget: RateBudget, *, hold_s: float = 120.0) -> None:
        self.redis = redis
        self.name = name
        self.budget = budget
        self.hold_ms = int(hold_s * 1000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    def _keys(self) -> list[str]:
        day = datetime.now(UTC).strftime("%Y%m%d")
        p = f"crmsync:ratelimit:{self.name}"
        return [f"{p}:10s", f"{p}:search1s", f"{p}:daily:{day}"]

    def try_acquire(self, *, search: bool = False, ticket: str | None = None) -> float:
        """0 when granted (entered under ``ticket``), else seconds to wait; raises QuotaExhaustedError
        when the day is spent."""
        result = int(
            self._acquire(
                keys=self._keys(),
                args=[
                    self.budget.per_ten_seconds,
                    self.budget.search_per_second if search else 0,
                    self.budget.daily,
                    ticket or uuid.uuid4().hex,
                    self.hold_ms,
                ],
            )
        )
        if result < 0:
            raise QuotaExhaustedError(
                f"HubSpot daily budget of {self.budget.daily} calls is used up for {self.name}", code="DAILY"
            )
        return result / 1000

    def acquire(self, *, search: bool = False, timeout_s: float = 120.0) -> str:
        """Block until granted; the ticket to ``release()`` once the call's answer (or failure) is in."""
        deadline = time.monotonic() + timeout_s
        ticket = uuid.uuid4().hex
        while True:
            wait = self.try_acquire(search=search, ticket=ticket)
            if wait <= 0:
                return ticket
            if time.monotonic() + wait > deadline:
                raise RateLimitTimeoutError(
                    f"rate limiter {self.name}: no slot within {timeout_s}s",
                    code="LIMITER_TIMEOUT",
                    wait_seconds=wait,
                )
            time.sleep(wait)

    def release(self, ticket: str | None, headers: Mapping[str, str] | None = None) -> int:
        """The call is answered (or failed): it counts for one window from now, no longer as in flight;
        ``headers`` are observed in the same step. Returns the calls entered by the observation. Redis
        unreachable here is logged, not raised: the call is done (its answer must not be lost), and an
        unreleased ticket only holds its slot longer."""
        seen = _window_count(headers or {}, self.budget.per_ten_seconds)
        if not ticket and seen <= 0:
            return 0
        keys, args = self._keys()[:2], [ticket or "", seen, uuid.uuid4().hex, self.hold_ms]
        try:
            return int(self._release(keys=keys, args=args))
        except RedisError as exc:
            log.warning("rate limiter %s: could not release a call (%s)", self.name, type(exc).__name__)
            return 0

    def observe(self, headers: Mapping[str, str]) -> int:
        """Correct the log by HubSpot's count of its 10-second window (see ``_window_count``)."""
        return self.release(None, headers)

    def used_today(self) -> int:
        return int(self.redis.get(self._keys()[2]) or 0)


def _window_count(headers: Mapping[str, str], budget: int) -> int:
    """The calls HubSpot counts in its 10-second window, from an answer's headers: ``Max`` -
    ``Remaining``; ``Remaining: 0`` without ``Max`` reads as the budget spent; 0 when not said."""
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    remaining, most = lower.get("x-hubspot-ratelimit-remaining"), lower.get("x-hubspot-ratelimit-max")
    if lower.get("x-hubspot-ratelimit-interval-milliseconds") != "10000" or not remaining:
        return 0
    try:
        return max(0, int(most) - int(remaining)) if most else (budget if remaining == "0" else 0)
    except ValueError:
        return 0
