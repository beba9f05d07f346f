"""The Redis-shared rate limiter: unit behaviour on real Redis, and several OS processes vs the sandbox."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from sandbox.hubspot.limits import RateLimitTier
from sandbox.hubspot.server import HubSpotSandbox
from worker.errors import QuotaExhaustedError, RetriableError
from worker.state.ratelimit import RateBudget, RedisRateLimiter

pytestmark = pytest.mark.integration


def test_ten_second_budget_blocks_and_reports_the_wait(redis_client: Any) -> None:
    limiter = RedisRateLimiter(
        redis_client, "t1", RateBudget(per_ten_seconds=3, search_per_second=10, daily=100)
    )
    assert [limiter.try_acquire() for _ in range(3)] == [0, 0, 0]
    wait = limiter.try_acquire()
    assert 9.0 < wait <= 10.0


def test_no_slot_in_time_is_a_classified_retriable_error(redis_client: Any, sandbox: HubSpotSandbox) -> None:
    """The limiter's timeout is a RetriableError, so the transport's retry policy handles it."""
    from worker.crm.hubspot import HubSpotAdapter

    from .conftest import make_settings

    class ShortLimiter(RedisRateLimiter):
        def acquire(self, *, search: bool = False, timeout_s: float = 120.0) -> None:
            super().acquire(search=search, timeout_s=0.05)

    budget = RateBudget(per_ten_seconds=1, search_per_second=10, daily=100)
    limiter = ShortLimiter(redis_client, "t-timeout", budget)
    adapter = HubSpotAdapter(make_settings(sandbox, max_attempts=2, backoff_max_s=0.05), limiter=limiter)
    assert adapter.read(["1"]) == {}  # takes the one slot
    with pytest.raises(RetriableError) as info:
        adapter.read(["1"])
    assert info.value.code == "LIMITER_TIMEOUT"
    assert adapter.transport.stats.calls == 1  # the second call never went out


def test_search_budget_is_per_second_and_separate(redis_client: Any) -> None:
    limiter = RedisRateLimiter(
        redis_client, "t2", RateBudget(per_ten_seconds=100, search_per_second=2, daily=100)
    )
    assert limiter.try_acquire(search=True) == 0
    assert limiter.try_acquire(search=True) == 0
    assert 0 < limiter.try_acquire(search=True) <= 1.0
    assert limiter.try_acquire() == 0  # non-search calls are not held by the search window


def test_daily_budget_raises_quota_exhausted(redis_client: Any) -> None:
    limiter = RedisRateLimiter(
        redis_client, "t3", RateBudget(per_ten_seconds=100, search_per_second=5, daily=2)
    )
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(QuotaExhaustedError):
        limiter.acquire()
    assert limiter.used_today() == 2


def test_server_reporting_zero_remaining_pauses_everyone(redis_client: Any) -> None:
    a = RedisRateLimiter(redis_client, "t4", RateBudget())
    b = RedisRateLimiter(redis_client, "t4", RateBudget())
    a.observe({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    assert b.try_acquire() > 9.0


CHILD = """
import sys
from pydantic import SecretStr
import redis
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
from worker.state.ratelimit import RateBudget, RedisRateLimiter

base, redis_url, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
budget = RateBudget(per_ten_seconds=20, search_per_second=4, daily=10_000)
limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), "shared", budget)
settings = HubSpotSettings(base_url=base, access_token=SecretStr(sys.argv[4]), max_attempts=1)
adapter = HubSpotAdapter(settings, limiter=limiter)
for _ in range(calls):
    adapter.read(["1001"])
print(adapter.transport.stats.throttled)
"""


@pytest.mark.slow
def test_four_processes_sharing_the_budget_get_no_429(redis_client: Any, redis_url: str) -> None:
    with HubSpotSandbox() as sb:
        sb.configure(tier=RateLimitTier(per_ten_seconds=24, daily=None, search_per_second=None))
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, sb.base_url, redis_url, "8", sb.token],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        elapsed = time.monotonic() - started
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
            assert out.strip() == "0"
        assert sb.portal.limiter.accepted == 32
        assert sb.portal.limiter.throttled == 0
        assert elapsed >= 10.0  # 32 calls with a shared budget of 20 per 10 s must span a second window
