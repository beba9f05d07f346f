"""Fixtures of the sync, ops and runtime tests (and any integration test that wants them): both
sandboxes over real HTTP(S) (one per session, reset per test), the worker's adapters pointed at them
through the real client libraries, the state stores on the test Redis and a sync service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sandboxes import hs_settings, make_service, sf_settings
from worker.crm.hubspot import HubSpotAdapter
from worker.crm.salesforce import SalesforceAdapter
from worker.state.store import State
from worker.sync import Disposition, Run, SyncService


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


@pytest.fixture
def sf(sf_box: SalesforceSandbox) -> SalesforceAdapter:
    return SalesforceAdapter(sf_settings(sf_box))


@pytest.fixture
def hs(hs_box: HubSpotSandbox) -> HubSpotAdapter:
    return HubSpotAdapter(hs_settings(hs_box))


@pytest.fixture
def state(redis_client: Any) -> State:
    return State.connect(redis_client)


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
