"""The Redis-shared rate limiter: unit behaviour on real Redis, and several OS processes vs the sandbox."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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
        def acquire(self, *, search: bool = False, timeout_s: float = 120.0) -> str:
            return super().acquire(search=search, timeout_s=0.05)

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


def test_a_call_counts_from_its_answer_not_its_grant(redis_client: Any) -> None:
    """In flight, a call holds its slot (the next is at least a window away); answered a second after
    its grant, it frees the slot a window after the answer, not after the grant."""
    limiter = RedisRateLimiter(
        redis_client, "t5", RateBudget(per_ten_seconds=1, search_per_second=2, daily=100)
    )
    ticket = limiter.acquire()
    assert limiter.try_acquire() >= 9.99  # in flight: frees no sooner than a window after its answer
    time.sleep(1.0)
    limiter.release(ticket)
    assert limiter.try_acquire() > 9.9  # would be ~9.0 counted from the grant


def test_headers_counting_more_calls_than_the_log_enter_the_difference(redis_client: Any) -> None:
    """HubSpot's Max - Remaining above the log's count (calls made outside the limiter) is entered as
    calls made now: the workers wait for the window to roll, not for a fixed pause."""
    budget = RateBudget(per_ten_seconds=9, search_per_second=2, daily=100)
    a, b = RedisRateLimiter(redis_client, "t4", budget), RedisRateLimiter(redis_client, "t4", budget)
    mine = [a.acquire() for _ in range(3)]
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "10"}
    assert a.release(mine[0], {**headers, "X-HubSpot-RateLimit-Remaining": "7"}) == 0  # our own 3
    assert a.observe({**headers, "X-HubSpot-RateLimit-Remaining": "4"}) == 3  # 3 more than ours
    assert [b.try_acquire() for _ in range(3)] == [0, 0, 0]  # 9 in the log
    assert b.try_acquire() >= 9.9
    assert a.observe({"X-HubSpot-RateLimit-Remaining": "0"}) == 0  # no interval: not the 10 s window


def test_a_release_with_redis_unreachable_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """The call is done when it is released: its answer must not be lost to a Redis outage."""
    down = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(down, "t6", RateBudget())
    with caplog.at_level(logging.WARNING, logger="worker.state.ratelimit"):
        assert limiter.release("a-ticket") == 0
    assert "could not release" in caplog.text


class LateSender(RedisRateLimiter):
    """The real limiter, with the gap a loaded machine puts between a grant and the request leaving:
    the first ``late`` grants of this process go out ``delay_s`` after them, the rest at once."""

    def __init__(self, *args: Any, late: int, delay_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.late, self.delay_s, self._lock = late, delay_s, threading.Lock()

    def acquire(self, *, search: bool = False, timeout_s: float = 120.0) -> str:
        ticket = super().acquire(search=search, timeout_s=timeout_s)
        with self._lock:
            self.late -= 1
            delay = self.delay_s if self.late >= 0 else 0.0
        time.sleep(delay)
        return ticket


@pytest.mark.slow
def test_threads_whose_calls_leave_late_stay_within_the_portal_limit(
    redis_client: Any, sandbox: HubSpotSandbox
) -> None:
    """Six threads share a budget of 10 calls per 10 s against a portal allowing 11. The first window's
    calls reach HubSpot 0.5 s after their grants, the second's at once: counted from the grant, the
    second window's calls would arrive while HubSpot still counts the first's (429s). No 429, every call
    accepted, and no 10 s of arrivals holds more than the budget."""
    from worker.crm.hubspot import HubSpotAdapter

    from .conftest import make_settings

    budget, portal, calls = 10, 11, 20
    sandbox.configure(tier=RateLimitTier(per_ten_seconds=portal, daily=None, search_per_second=None))
    arrivals: list[int] = []
    real_check = sandbox.portal.limiter.check

    def check(*args: Any, **kwargs: Any) -> dict[str, str]:
        headers = real_check(*args, **kwargs)
        arrivals.append(sandbox.portal.limiter.clock.now_ms())
        return headers

    sandbox.portal.limiter.check = check  # type: ignore[method-assign]
    limiter = LateSender(
        redis_client,
        "late",
        RateBudget(per_ten_seconds=budget, search_per_second=4, daily=1000),
        late=budget,
        delay_s=0.5,
    )
    adapter = HubSpotAdapter(make_settings(sandbox, max_attempts=1), limiter=limiter)
    left = iter(range(calls))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            try:
                adapter.read(["1001"])
            except Exception as exc:  # collected and asserted below
                failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    assert sandbox.portal.limiter.throttled == 0
    assert sandbox.portal.limiter.accepted == calls
    times = sorted(arrivals)
    busiest = max(sum(1 for u in times if t <= u < t + 10_000) for t in times)
    assert busiest <= budget, busiest


CHILD = """
import sys
from pydantic import SecretStr
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
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
