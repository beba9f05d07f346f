"""Both sandboxes in process, adapters pointed at them, and the runtime's Redis stores on the test db."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.integration.sync.conftest import hs_settings, sf_settings
from worker.crm.hubspot import HubSpotAdapter
from worker.crm.salesforce import SalesforceAdapter


@pytest.fixture(scope="module")
def sf_box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as box:
        yield box


@pytest.fixture(scope="module")
def hs_box() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox() as box:
        yield box


@pytest.fixture
def boxes(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox) -> tuple[SalesforceSandbox, HubSpotSandbox]:
    sf_box.reset()
    hs_box.reset()
    # search sees a change at once here (the index lag is the adapter's business, tested with it;
    # the end-to-end tests run with the sandbox's default lag)
    hs_box.configure(tier=TIERS["unlimited"], index_lag_ms=0)
    return sf_box, hs_box


# one way to point the adapters at the sandboxes (short retry waits), shared with the sync tests
salesforce_settings = sf_settings
hubspot_settings = hs_settings


@pytest.fixture
def sf(boxes: tuple[SalesforceSandbox, HubSpotSandbox]) -> SalesforceAdapter:
    return SalesforceAdapter(salesforce_settings(boxes[0]))


@pytest.fixture
def hs(boxes: tuple[SalesforceSandbox, HubSpotSandbox]) -> HubSpotAdapter:
    return HubSpotAdapter(hubspot_settings(boxes[1]))


@pytest.fixture
def sf_api(boxes: tuple[SalesforceSandbox, HubSpotSandbox]) -> Salesforce:
    """simple-salesforce as a person's tools would use it (the public REST API)."""
    box = boxes[0]
    return Salesforce(instance_url=box.instance_url, session_id=box.new_session_id(), session=box.session())


@pytest.fixture
def hs_api(boxes: tuple[SalesforceSandbox, HubSpotSandbox]) -> Any:
    """hubspot-api-client as a person's tools would use it."""
    return boxes[1].client()
