"""Fixtures: one HTTPS Salesforce sandbox per test session (reset before each test), a real
simple-salesforce client logged in through SOAP (API 59.0, where login() is still offered), and the
worker's adapter logged in by OAuth client credentials (its default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.crm.salesforce.connection import build_http

USERNAME = "admin@crm-sync.sandbox"
PASSWORD = "password"
TOKEN = "TOKEN"
CONSUMER_KEY = "sandbox-consumer-key"
CONSUMER_SECRET = "sandbox-consumer-secret"


@pytest.fixture
def sf_sandbox(sf_box: SalesforceSandbox) -> SalesforceSandbox:
    """The shared sandbox (``tests/integration/conftest.py``), with a fresh org for this test."""
    return sf_box


@pytest.fixture
def sf_settings(sf_sandbox: SalesforceSandbox) -> Callable[..., SalesforceSettings]:
    """Settings for the sandbox; keyword arguments override (e.g. ``auth_mode="oauth_password"``)."""

    def make(**overrides: Any) -> SalesforceSettings:
        values: dict[str, Any] = {
            "auth_mode": "client_credentials",  # the documented default; soap is legacy
            "domain": "sandbox.my",  # client credentials need a My Domain (sent to the sandbox)
            "username": USERNAME,
            "password": PASSWORD,
            "security_token": TOKEN,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
            "login_url": sf_sandbox.instance_url,
            "ca_bundle": sf_sandbox.ca_path,
            "retry_initial_wait": 0.01,
            "retry_max_wait": 0.05,
            "concurrent_limit_wait": 0.01,
        }
        values.update(overrides)
        return SalesforceSettings(**values)

    return make


@pytest.fixture
def sf_http(sf_settings: Callable[..., SalesforceSettings]) -> requests.Session:
    """A requests session that trusts the sandbox CA and sends login calls to it."""
    return build_http(sf_settings())


@pytest.fixture
def sf_client(sf_http: requests.Session) -> Salesforce:
    """A real simple-salesforce client, logged in by SOAP username/password/token (it re-logs on 401)."""
    return Salesforce(username=USERNAME, password=PASSWORD, security_token=TOKEN, session=sf_http)


@pytest.fixture
def sf_adapter(sf_settings: Callable[..., SalesforceSettings]) -> SalesforceAdapter:
    return SalesforceAdapter(sf_settings())


@pytest.fixture
def make_lead(sf_sandbox: SalesforceSandbox) -> Callable[..., str]:
    """Create a lead straight in the org model (no API call); returns its id."""

    def make(**values: Any) -> str:
        fields = {"LastName": "Hopper", "Company": "Navy", **values}
        return sf_sandbox.org.create("Lead", fields, sf_sandbox.org.admin_id)

    return make
