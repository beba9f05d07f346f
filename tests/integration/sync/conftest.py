"""Fixtures: both sandboxes over real HTTP(S) (one per session, reset per test) and the worker's
adapters pointed at them through the real client libraries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings


@pytest.fixture(scope="session")
def _sf_server() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as box:
        yield box


@pytest.fixture(scope="session")
def _hs_server() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox() as box:
        yield box


@pytest.fixture
def sf_box(_sf_server: SalesforceSandbox) -> SalesforceSandbox:
    _sf_server.reset()
    return _sf_server


@pytest.fixture
def hs_box(_hs_server: HubSpotSandbox) -> HubSpotSandbox:
    _hs_server.reset()
    _hs_server.configure(tier=TIERS["unlimited"])
    return _hs_server


def sf_settings(box: SalesforceSandbox, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth_mode": "soap",
        "username": "admin@crm-sync.sandbox",
        "password": SecretStr("password"),
        "security_token": SecretStr("TOKEN"),
        "login_url": box.instance_url,
        "ca_bundle": box.ca_path,
        "retry_initial_wait": 0.01,
        "retry_max_wait": 0.05,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def hs_settings(box: HubSpotSandbox, **overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {
        "base_url": box.base_url,
        "access_token": SecretStr(box.token),
        "index_lag_margin_s": 0.0,
        "lookback_s": 0.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
    }
    values.update(overrides)
    return HubSpotSettings(**values)


@pytest.fixture
def sf(sf_box: SalesforceSandbox) -> SalesforceAdapter:
    return SalesforceAdapter(sf_settings(sf_box))


@pytest.fixture
def hs(hs_box: HubSpotSandbox) -> HubSpotAdapter:
    return HubSpotAdapter(hs_settings(hs_box))
