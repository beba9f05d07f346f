"""The shipped maps checked against the Salesforce sandbox's describe, through the adapter."""

from __future__ import annotations

import pytest

from tests.conftest import MAPPINGS
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
