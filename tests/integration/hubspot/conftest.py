"""Fixtures: an in-process HubSpot sandbox on loopback, a real ``hubspot.HubSpot`` client, the adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox() as sb:
        yield sb


@pytest.fixture
def sandbox(sandbox_server: HubSpotSandbox) -> HubSpotSandbox:
    """The shared sandbox, reset to a fresh portal (unlimited rate tier unless a test sets one)."""
    sandbox_server.reset()
    sandbox_server.configure(tier=TIERS["unlimited"])
    return sandbox_server


@pytest.fixture
def hs(sandbox: HubSpotSandbox) -> Any:
    """A real hubspot-api-client ``HubSpot`` pointed at the sandbox."""
    return sandbox.client()


def make_settings(sandbox: HubSpotSandbox, **overrides: Any) -> HubSpotSettings:
    fields: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "access_token": SecretStr(sandbox.token),
        "index_lag_margin_s": 0.0,
        "lookback_s": 0.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 2.0,
    }
    fields.update(overrides)
    return HubSpotSettings(**fields)


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
