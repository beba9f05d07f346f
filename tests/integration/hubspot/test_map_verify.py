"""The shipped maps checked against the HubSpot sandbox portal's properties, through the adapter."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sandbox.hubspot.server import HubSpotSandbox
from tests.conftest import MAPPINGS
from worker.cli import app
from worker.crm.hubspot.adapter import HubSpotAdapter
from worker.mapping import load_map
from worker.mapping.verify import verify_against_crms

pytestmark = pytest.mark.integration


def test_the_default_map_fits_a_portal_with_hubspots_defaults(adapter: HubSpotAdapter) -> None:
    props = adapter.describe_properties()
    assert props["lifecyclestage"] is not None and "marketingqualifiedlead" in props["lifecyclestage"]
    assert verify_against_crms(load_map(MAPPINGS / "default.yaml"), hubspot=props) == []


def test_the_waterfall_needs_its_custom_lead_statuses_in_the_portal(adapter: HubSpotAdapter) -> None:
    problems = verify_against_crms(
        load_map(MAPPINGS / "sirius-waterfall.yaml"), hubspot=adapter.describe_properties()
    )
    missing = sorted(p.split("has no option ")[1].split(" ")[0] for p in problems)
    assert missing == ["'CUSTOMER'", "'INACTIVE_CUSTOMER'", "'NOT_A_TARGET'", "'OPPORTUNITY_LOST'"]


def test_crmsync_mappings_verify_against_the_sandbox_portal(sandbox: HubSpotSandbox) -> None:
    env = {"CRMSYNC_HUBSPOT_BASE_URL": sandbox.base_url, "CRMSYNC_HUBSPOT_ACCESS_TOKEN": sandbox.token}
    ok = CliRunner().invoke(
        app, ["mappings", "verify", str(MAPPINGS / "default.yaml"), "--no-salesforce"], env=env
    )
    assert ok.exit_code == 0, ok.output
    waterfall = str(MAPPINGS / "sirius-waterfall.yaml")
    missing = CliRunner().invoke(app, ["mappings", "verify", waterfall, "--no-salesforce"], env=env)
    assert missing.exit_code == 2
    assert "HubSpot hs_lead_status has no option 'OPPORTUNITY_LOST'" in missing.output
    assert sandbox.token not in missing.output
