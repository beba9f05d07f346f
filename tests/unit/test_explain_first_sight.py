"""`crmsync explain` on a person met for the first time (no --base): the shipped example files."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.conftest import MAPPINGS, ROOT
from worker.cli import app

FIRST_SIGHT = ROOT / "examples" / "first-sight"


def test_a_qualified_lead_at_mql_beside_an_mql_contact_is_planned_sql_on_both_sides() -> None:
    result = CliRunner().invoke(
        app,
        [
            "explain",
            "--salesforce", str(FIRST_SIGHT / "salesforce-lead.json"),
            "--hubspot", str(FIRST_SIGHT / "hubspot-contact.json"),
            "--map", str(MAPPINGS / "default.yaml"),
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["values"]["stage"] == "sql"
    assert out["values"]["status"] == "qualified"
    [sf_write] = out["writes"]["salesforce"]
    [hs_write] = out["writes"]["hubspot"]
    assert sf_write["fields"] == {"Lead_Stage__c": "Sales Qualified Lead"}
    assert hs_write["fields"] == {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"}
    assert "implied_by_status_qualified" in out["rules_applied"]
    assert out["skipped"] == []  # nobody edited anything: no contradiction to report
    assert [(c["field"], c["winner"], c["policy"]) for c in out["conflicts"]] == [
        ("status", "salesforce", "first_sight.furthest_along")
    ]
