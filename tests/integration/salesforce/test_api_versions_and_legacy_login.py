"""API versions as Salesforce serves them, SOAP login() retiring, and the worker's OAuth default.

Sources are in ``sandbox/salesforce/versions.py``: the versions list needs no authentication; 30.0 and
older answer REST 410 GONE / SOAP UNSUPPORTED_API_VERSION; versions newer than the org's release answer
404 NOT_FOUND; SOAP login() is not offered from 65.0 (INVALID_OPERATION).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceResourceNotFound,
)
from simple_salesforce.login import SalesforceLogin

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.errors import ConfigError, FatalError

pytestmark = pytest.mark.integration

USER, PW, TOKEN = "admin@crm-sync.sandbox", "password", "TOKEN"
Settings = Callable[..., SalesforceSettings]


def test_versions_list_needs_no_session_and_starts_at_31(sf_sandbox: SalesforceSandbox) -> None:
    answer = sf_sandbox.session().get(f"{sf_sandbox.instance_url}/services/data/")
    assert answer.status_code == 200 and "Sforce-Limit-Info" not in answer.headers
    listed = answer.json()
    assert listed[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
    assert {"label": "Winter '26", "url": "/services/data/v65.0", "version": "65.0"} in listed
    assert listed[-1]["version"] == f"{sf_sandbox.org.latest_api_version}"
    assert sf_sandbox.org.api_used == 0  # not counted against the allocation


def _client(sandbox: SalesforceSandbox, version: str, http: requests.Session) -> Salesforce:
    return Salesforce(
        instance_url=sandbox.instance_url, session_id=sandbox.new_session_id(), version=version, session=http
    )


def test_a_retired_rest_version_is_410_gone(sf_sandbox: SalesforceSandbox, sf_http: requests.Session) -> None:
    with pytest.raises(SalesforceError) as info:
        _client(sf_sandbox, "30.0", sf_http).query("SELECT Id FROM Lead")
    assert info.value.status == 410
    assert info.value.content[0]["errorCode"] == "GONE"
    _client(sf_sandbox, "31.0", sf_http).query("SELECT Id FROM Lead")  # the oldest still served


def test_an_unreleased_rest_version_is_404(sf_sandbox: SalesforceSandbox, sf_http: requests.Session) -> None:
    sf_sandbox.org.latest_api_version = 66.0
    with pytest.raises(SalesforceResourceNotFound) as info:
        _client(sf_sandbox, "67.0", sf_http).query("SELECT Id FROM Lead")
    assert info.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


@pytest.mark.parametrize(
    ("version", "code"),
    [("65.0", "INVALID_OPERATION"), ("66.0", "INVALID_OPERATION"), ("30.0", "UNSUPPORTED_API_VERSION")],
)
def test_soap_login_is_refused_from_65_and_on_retired_versions(
    sf_http: requests.Session, version: str, code: str
) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        SalesforceLogin(username=USER, password=PW, security_token=TOKEN, sf_version=version, session=sf_http)
    assert info.value.code == code
    if code == "INVALID_OPERATION":
        assert info.value.auth_message == (
            f"The SOAP Login operation is not available in the API version specified ({version}). "
            "Refer to the documentation for supported versions."
        )


def test_soap_login_still_works_at_64(sf_sandbox: SalesforceSandbox, sf_http: requests.Session) -> None:
    token, _ = SalesforceLogin(
        username=USER, password=PW, security_token=TOKEN, sf_version="64.0", session=sf_http
    )
    assert token in sf_sandbox.org.sessions


def test_an_org_with_soap_login_disabled_refuses_it(
    sf_sandbox: SalesforceSandbox, sf_http: requests.Session
) -> None:
    sf_sandbox.org.soap_login_enabled = False
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        SalesforceLogin(username=USER, password=PW, security_token=TOKEN, session=sf_http)
    assert info.value.code == "INVALID_OPERATION"
    token, _ = SalesforceLogin(consumer_key="sandbox-consumer-key", consumer_secret="sandbox-consumer-secret",
                               domain="sandbox.my", session=sf_http)  # fmt: skip
    assert token in sf_sandbox.org.sessions  # OAuth is unaffected


def test_the_worker_logs_in_by_client_credentials_by_default(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sf_settings(auth_mode=SalesforceSettings.model_fields["auth_mode"].default)
    assert settings.auth_mode.value == "client_credentials"
    sf_sandbox.org.soap_login_enabled = False  # a new org: nothing here may depend on SOAP login()
    with caplog.at_level(logging.WARNING):
        adapter = SalesforceAdapter(settings)
        adapter.check_api_version()
        assert list(adapter.query("SELECT Id FROM Lead")) == []
    assert not [r for r in caplog.records if "login()" in r.getMessage()]


def test_soap_mode_warns_that_it_is_legacy_without_secrets(
    sf_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="worker.crm.salesforce"):
        adapter = SalesforceAdapter(sf_settings(auth_mode="soap"))
        list(adapter.query("SELECT Id FROM Lead"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("login()" in w and "client_credentials or jwt" in w for w in warnings)
    assert not any(secret in w for w in warnings for secret in (PW, TOKEN, "sandbox-consumer-secret"))


def test_soap_mode_at_65_is_refused_before_any_call(sf_settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"not available at API 65\.0"):
        sf_settings(auth_mode="soap", api_version="65.0")


@pytest.mark.parametrize(("version", "latest"), [("30.0", 66.0), ("67.0", 66.0)])
def test_the_start_check_refuses_a_version_the_org_does_not_serve(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, version: str, latest: float
) -> None:
    sf_sandbox.org.latest_api_version = latest
    adapter = SalesforceAdapter(sf_settings(api_version=version))
    with pytest.raises(ConfigError, match=f"API version {version} is not served by this org") as info:
        adapter.check_api_version()
    assert "31.0-66.0" in str(info.value)


def test_a_call_at_a_retired_version_is_fatal_not_retried(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    adapter = SalesforceAdapter(sf_settings(api_version="30.0"))
    with pytest.raises(FatalError) as info:
        list(adapter.query("SELECT Id FROM Lead"))
    assert (info.value.code, info.value.status) == ("GONE", 410)
    assert adapter.calls == 2  # the token and the one refused call
