"""The runtime tests' view of the shared sandboxes (``tests/integration/conftest.py``): search sees a
change at once, and the public clients a person's tools would use."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox


@pytest.fixture
def hs_box(hs_box: HubSpotSandbox) -> HubSpotSandbox:
    # search sees a change at once here (the index lag is the adapter's business, tested with it;
    # the end-to-end tests run with the sandbox's default lag)
    hs_box.configure(index_lag_ms=0)
    return hs_box


@pytest.fixture
def boxes(sf_box: SalesforceSandbox, hs_box: HubSpotSandbox) -> tuple[SalesforceSandbox, HubSpotSandbox]:
    return sf_box, hs_box


@pytest.fixture
def sf_api(sf_box: SalesforceSandbox) -> Salesforce:
    """simple-salesforce as a person's tools would use it (the public REST API)."""
    return Salesforce(
        instance_url=sf_box.instance_url, session_id=sf_box.new_session_id(), session=sf_box.session()
    )


@pytest.fixture
def hs_api(hs_box: HubSpotSandbox) -> Any:
    """hubspot-api-client as a person's tools would use it."""
    return hs_box.client()
