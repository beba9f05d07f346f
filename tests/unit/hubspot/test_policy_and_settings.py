"""Retry policy behaviour and secret handling in settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from worker.crm.hubspot.retry import RetryPolicy
from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import RecordRejectedError, RetriableError


def test_retriable_errors_are_retried_until_success() -> None:
    calls = []

    def op() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetriableError("busy", wait_seconds=0.0)
        return "ok"

    assert RetryPolicy(max_attempts=5, initial_s=0.0, max_s=0.0).run(op) == "ok"
    assert len(calls) == 3


def test_rejections_are_never_retried() -> None:
    calls = []

    def op() -> None:
        calls.append(1)
        raise RecordRejectedError("bad option", code="VALIDATION_ERROR")

    with pytest.raises(RecordRejectedError):
        RetryPolicy(max_attempts=5).run(op)
    assert len(calls) == 1


def test_gives_up_after_max_attempts() -> None:
    calls = []

    def op() -> None:
        calls.append(1)
        raise RetriableError("down", wait_seconds=0.0)

    with pytest.raises(RetriableError):
        RetryPolicy(max_attempts=3).run(op)
    assert len(calls) == 3


def test_settings_read_env_prefix_and_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSYNC_HUBSPOT_ACCESS_TOKEN", "pat-na1-secret-value")
    monkeypatch.setenv("CRMSYNC_HUBSPOT_APP_SECRET", "app-secret-value")
    monkeypatch.setenv("CRMSYNC_HUBSPOT_BASE_URL", "http://127.0.0.1:8090")
    s = HubSpotSettings()
    assert s.base_url == "http://127.0.0.1:8090"
    assert isinstance(s.access_token, SecretStr)
    assert s.access_token.get_secret_value() == "pat-na1-secret-value"
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "pat-na1-secret-value" not in text and "app-secret-value" not in text


def test_budget_must_stay_below_the_portal_limit() -> None:
    with pytest.raises(ValueError, match="must stay below"):
        HubSpotSettings(portal_limit_per_10s=100, budget_per_10s=100)
    budget = HubSpotSettings(portal_limit_per_10s=100, budget_per_10s=90, search_per_second=3).rate_budget()
    assert (budget.per_ten_seconds, budget.search_per_second) == (90, 3)
