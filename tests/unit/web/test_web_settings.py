"""The receivers' settings: where Redis is read from, and what a bad org id or short secret says."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from worker.web.cli import settings_problems
from worker.web.settings import WebSettings


def test_redis_url_from_either_variable_or_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMSYNC_WEB_REDIS_URL", raising=False)
    monkeypatch.setenv("CRMSYNC_REDIS_URL", "redis://shared:6379/3")
    assert WebSettings().redis_url.get_secret_value() == "redis://shared:6379/3"
    monkeypatch.setenv("CRMSYNC_WEB_REDIS_URL", "redis://web:6379/4")
    assert WebSettings().redis_url.get_secret_value() == "redis://web:6379/4"
    assert WebSettings(redis_url=SecretStr("redis://x:1/2")).redis_url.get_secret_value() == "redis://x:1/2"


@pytest.mark.parametrize("org", ["00D5g00000000AB", "00D5g00000000ABEAY"])
def test_org_ids_of_15_or_18_characters(org: str) -> None:
    assert WebSettings(salesforce_org_id=org).salesforce_org_id == org


@pytest.mark.parametrize("org", ["00Q5g00000000AB", "00D5g", "00D5g00000000AB-EAY", "../00D5g00000000AB"])
def test_other_org_ids_are_refused(org: str) -> None:
    with pytest.raises(ValidationError, match="salesforce_org_id"):
        WebSettings(salesforce_org_id=org)


def test_problems_name_the_setting_never_its_value() -> None:
    with pytest.raises(ValidationError) as info:
        WebSettings(callout_secret=SecretStr("short-but-secret"), max_body_bytes=1)
    text = settings_problems(info.value)
    assert "callout_secret must be at least 24 characters" in text and "max_body_bytes" in text
    assert "short-but-secret" not in text
