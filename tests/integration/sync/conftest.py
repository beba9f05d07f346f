"""Fixtures: both sandboxes over real HTTP(S) (one per session, reset per test) and the worker's
adapters pointed at them through the real client libraries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.mapping import load_map
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService, SyncSettings


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
        "auth_mode": "client_credentials",
        "domain": "sandbox.my",  # client credentials need a My Domain (sent to the sandbox)
        "consumer_key": "sandbox-consumer-key",
        "consumer_secret": SecretStr("sandbox-consumer-secret"),
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


@pytest.fixture
def state(redis_client: Any) -> State:
    return State.connect(redis_client)


def make_service(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State, map_name: str = "default.yaml", **sf: Any
) -> SyncService:
    return SyncService(
        load_map(MAPPINGS / map_name),
        SalesforceAdapter(sf_settings(sf_box, **sf)),
        HubSpotAdapter(hs_settings(hs_box)),
        state,
        SyncSettings(),
    )


@pytest.fixture
def service(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State) -> SyncService:
    return make_service(sf_box, hs_box, state)


@pytest.fixture
def synced_lead(sf_box: SalesforceSandbox, service: SyncService) -> Callable[..., tuple[str, str]]:
    """A lead created in Salesforce and synced once: (lead id, HubSpot contact id)."""

    def make(email: str = "ada@example.com", **values: Any) -> tuple[str, str]:
        fields = {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": email, **values}
        lead = sf_box.org.create("Lead", fields, sf_box.org.admin_id)
        outcome = service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
        assert outcome.disposition is Disposition.SYNCED, outcome.detail
        return lead, str(sf_box.org.get("Lead", lead)["HubSpot_Contact_ID__c"])

    return make
