"""Fixtures: an in-process HubSpot sandbox on loopback, a real ``hubspot.HubSpot`` client, the adapter."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from tests.integration.sandboxes import hs_settings
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings


@pytest.fixture
def sandbox(hs_box: HubSpotSandbox) -> HubSpotSandbox:
    """The shared sandbox (``tests/integration/conftest.py``), reset to a fresh portal (unlimited rate
    tier unless a test sets one)."""
    return hs_box


@pytest.fixture
def hs(sandbox: HubSpotSandbox) -> Any:
    """A real hubspot-api-client ``HubSpot`` pointed at the sandbox."""
    return sandbox.client()


def make_settings(sandbox: HubSpotSandbox, **overrides: Any) -> HubSpotSettings:
    """The shared settings with the adapter's retry waits up to 2 s (the rate-limit tests wait them out)."""
    return hs_settings(sandbox, **{"backoff_max_s": 2.0, **overrides})


@pytest.fixture
def adapter(sandbox: HubSpotSandbox) -> HubSpotAdapter:
    return HubSpotAdapter(make_settings(sandbox))


@pytest.fixture
def exact_index(sandbox: HubSpotSandbox) -> HubSpotSandbox:
    """No search-index lag, for tests that search right after writing and are not about the lag.

    The sandbox defaults to ``DEFAULT_INDEX_LAG_MS`` as a real portal lags; a test that needs exact
    visibility says so by using this fixture (``@pytest.mark.usefixtures("exact_index")``)."""
    sandbox.configure(index_lag_ms=0)
    return sandbox
