"""How the integration tests point the worker at the sandboxes: adapter settings (short retry waits)
and a sync service, shared by the sync, ops and runtime tests (and the end-to-end tests' conversions).
The fixtures built on them live in ``tests/integration/conftest.py``."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from worker.crm.hubspot import HubSpotAdapter, HubSpotSettings
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.mapping import load_map
from worker.state.store import State
from worker.sync import SyncService, SyncSettings


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


def make_service(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    map_name: str = "default.yaml",
    hs: dict[str, Any] | None = None,
    **sf: Any,
) -> SyncService:
    """A sync service over the sandboxes; ``hs`` and the keywords override the HubSpot and Salesforce
    adapters' settings."""
    return SyncService(
        load_map(MAPPINGS / map_name),
        SalesforceAdapter(sf_settings(sf_box, **sf)),
        HubSpotAdapter(hs_settings(hs_box, **(hs or {}))),
        state,
        SyncSettings(),
    )
