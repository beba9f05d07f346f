"""The audit stream's retention (entries, age) against a real Redis: applied on append, a bounded
number of entries per script call, and never past a live hold; a hold whose lease ran out no longer
stops it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from worker.state import keys
from worker.state.audit import TRIM_STEP, AuditEntry, AuditLog

pytestmark = pytest.mark.integration


def entry(n: int) -> AuditEntry:
    return AuditEntry(f"run-{n}", "test", f"p{n}", "hubspot", "contacts", str(n), "f", None, str(n), "x")


def ids(redis: Any) -> list[str]:
    return [keys.text(i) or "" for i, _ in redis.xrange(keys.AUDIT)]


def test_appends_keep_the_newest_max_len_entries(redis_client: Any) -> None:
    log = AuditLog(redis_client, max_len=5)
    for n in range(12):
        log.append([entry(n)])
    assert [e.run for e in log.entries()] == [f"run-{n}" for n in range(7, 12)]


def test_entries_older_than_max_age_are_trimmed(redis_client: Any) -> None:
    now_ms = int(time.time() * 1000)
    for at in (now_ms - 90_000, now_ms - 70_000, now_ms - 10_000):
        redis_client.xadd(keys.AUDIT, {"e": json.dumps({"run": str(at)})}, id=f"{at}-0")
    log = AuditLog(redis_client, max_age_ms=60_000)
    assert log.trim() == 2
    assert ids(redis_client) == [f"{now_ms - 10_000}-0"]


def test_a_large_backlog_is_trimmed_in_bounded_steps(redis_client: Any) -> None:
    pipe = redis_client.pipeline(transaction=False)
    for _ in range(2 * TRIM_STEP + 10):
        pipe.xadd(keys.AUDIT, {"e": "{}"})
    pipe.execute()
    log = AuditLog(redis_client, max_len=10)
    assert log.trim(rounds=1) == TRIM_STEP  # one call removes at most a step…
    assert log.trim() == TRIM_STEP  # …and a full trim finishes the job
    assert log.length() == 10


def test_a_hold_keeps_its_entries_until_released_or_expired(redis_client: Any) -> None:
    log = AuditLog(redis_client, max_len=2)
    with log.holding("reader", ttl_s=60) as hold:
        log.append([entry(n) for n in range(6)])
        assert log.length() == 6  # held from the start: nothing trimmed yet
        hold.keep_from(ids(redis_client)[3])
        log.append([entry(6)])
        assert [e.run for e in log.entries()] == ["run-3", "run-4", "run-5", "run-6"]
    assert log.trim() == 2 and [e.run for e in log.entries()] == ["run-5", "run-6"]

    short = AuditLog(redis_client, max_len=1)
    with short.holding("dies", ttl_s=0.2) as dying:
        dying.keep_from(ids(redis_client)[0])
        assert short.trim() == 0
        time.sleep(0.3)  # its lease ran out (a holder killed mid-way never releases it)
        assert short.trim() == 1 and short.holds() == {}
