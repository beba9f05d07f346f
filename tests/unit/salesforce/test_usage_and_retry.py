"""API share from Sforce-Limit-Info, and the retry policy's waits."""

from __future__ import annotations

import pytest

from worker.crm.salesforce.retry import RetryPolicy
from worker.crm.salesforce.usage import ApiBudget, Usage, parse_limit_info
from worker.errors import QuotaExhaustedError, RecordRejectedError, RetriableError


def test_parse_limit_info() -> None:
    assert parse_limit_info("api-usage=18/5000") == Usage(18, 5000)
    assert parse_limit_info("api-usage=25/5000; per-app-api-usage=17/250(appName=x)") == Usage(25, 5000)
    assert parse_limit_info(None) is None


def test_budget_refuses_at_share() -> None:
    budget = ApiBudget(0.25)
    budget.check()  # nothing observed yet
    budget.observe(Usage(24, 100))
    budget.check()
    budget.observe(Usage(25, 100))
    with pytest.raises(QuotaExhaustedError):
        budget.check()


def test_policy_retries_only_retriable() -> None:
    policy = RetryPolicy(attempts=3, initial_wait=0, max_wait=0)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetriableError("again", wait_seconds=0)
        return "ok"

    assert _run(policy, flaky) == "ok" and len(calls) == 3

    def rejected() -> str:
        calls.append(1)
        raise RecordRejectedError("no")

    calls.clear()
    with pytest.raises(RecordRejectedError):
        _run(policy, rejected)
    assert len(calls) == 1


def _run(policy: RetryPolicy, fn: object) -> str:
    for attempt in policy.retrying():
        with attempt:
            return fn()  # type: ignore[operator,no-any-return]
    raise AssertionError
