"""The shipped maps checked against the Salesforce sandbox's describe, through the adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import MAPPINGS
from worker.cli import app
from worker.crm.salesforce.adapter import SalesforceAdapter
from worker.mapping import compile_text, load_map
from worker.mapping.verify import verify_against_crms

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", ["default.yaml", "sirius-waterfall.yaml"])
def test_shipped_maps_fit_the_sandbox_org(sf_adapter: SalesforceAdapter, name: str) -> None:
    described = {obj: sf_adapter.describe_fields(obj) for obj in ("Lead", "Contact")}
    assert described["Lead"]["Status"] is not None  # a picklist, with its values
    assert verify_against_crms(load_map(MAPPINGS / name), salesforce=described) == []


def test_a_value_the_org_lacks_is_reported(sf_adapter: SalesforceAdapter) -> None:
    text = (
        (MAPPINGS / "default.yaml")
        .read_text()
        .replace("salesforce: Meeting Set,", "salesforce: Meeting Booked,")
    )
    cmap = compile_text(text, "renamed.yaml")
    problems = verify_against_crms(cmap, salesforce={"Lead": sf_adapter.describe_fields("Lead")})
    assert len(problems) == 1
    assert problems[0].startswith(
        "status 'meeting_set': Salesforce Lead.Status has no value 'Meeting Booked'"
    )


def test_crmsync_mappings_verify_against_the_sandbox(sf_sandbox: object, tmp_path: Path) -> None:
    from tests.integration.salesforce.conftest import CONSUMER_KEY, CONSUMER_SECRET

    env = {  # the default auth mode: OAuth client credentials against the org's My Domain
        "CRMSYNC_SALESFORCE_CONSUMER_KEY": CONSUMER_KEY,
        "CRMSYNC_SALESFORCE_CONSUMER_SECRET": CONSUMER_SECRET,
        "CRMSYNC_SALESFORCE_DOMAIN": "sandbox.my",
        "CRMSYNC_SALESFORCE_LOGIN_URL": sf_sandbox.instance_url,  # type: ignore[attr-defined]
        "CRMSYNC_SALESFORCE_CA_BUNDLE": str(sf_sandbox.ca_path),  # type: ignore[attr-defined]
    }
    ok = CliRunner().invoke(
        app, ["mappings", "verify", str(MAPPINGS / "default.yaml"), "--no-hubspot"], env=env
    )
    assert ok.exit_code == 0, ok.output
    assert "exists in Salesforce" in ok.output

    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(
        (MAPPINGS / "default.yaml").read_text().replace("salesforce: Contacted,", "salesforce: Called,")
    )
    bad = CliRunner().invoke(app, ["mappings", "verify", str(renamed), "--no-hubspot"], env=env)
    assert bad.exit_code == 2
    assert "status 'contacted': Salesforce Lead.Status has no value 'Called'" in bad.output
    assert CONSUMER_SECRET not in bad.output

    wrong = CliRunner().invoke(
        app, ["mappings", "verify", str(MAPPINGS / "default.yaml"), "--no-hubspot"],
        env={**env, "CRMSYNC_SALESFORCE_CONSUMER_SECRET": "s3cret-wrong"},
    )  # fmt: skip
    assert wrong.exit_code == 2
    assert "cannot read the CRM's schema" in wrong.output
    assert "s3cret-wrong" not in wrong.output
