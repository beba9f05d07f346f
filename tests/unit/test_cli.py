"""The operator's commands, run in process through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import MAPPINGS, ROOT
from worker.cli import app

runner = CliRunner()
EXAMPLES = ROOT / "examples"
EXPLAIN = [
    "explain",
    "--salesforce", str(EXAMPLES / "salesforce-lead.json"),
    "--hubspot", str(EXAMPLES / "hubspot-contact.json"),
    "--base", str(EXAMPLES / "base.json"),
    "--facts", str(EXAMPLES / "facts.json"),
    "--map", str(MAPPINGS / "default.yaml"),
]  # fmt: skip


def test_mappings_check_passes_both_shipped_maps() -> None:
    result = runner.invoke(
        app, ["mappings", "check", str(MAPPINGS / "default.yaml"), str(MAPPINGS / "sirius-waterfall.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok: map") == 2


def test_mappings_check_refuses_a_broken_map_naming_the_line(tmp_path: Path) -> None:
    text = (
        (MAPPINGS / "default.yaml")
        .read_text()
        .replace("then: {set_stage: churned}", "then: {set_stage: churnd}")
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "churnd" in row)
    result = runner.invoke(app, ["mappings", "check", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}:{line}: rules[11].then.set_stage: no stage with id 'churnd'" in result.output


def test_mappings_show_prints_tables() -> None:
    result = runner.invoke(
        app, ["mappings", "show", str(MAPPINGS / "sirius-waterfall.yaml")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Sales Accepted Opportunity" in result.output
    assert "(reads back)" in result.output
    assert "TSM" in result.output


def test_mappings_show_prints_the_policies_as_the_map_sets_them(tmp_path: Path) -> None:
    text = (MAPPINGS / "default.yaml").read_text()
    for a, b in (
        ("lost_opportunity_demotes_customer: false", "lost_opportunity_demotes_customer: true"),
        ("stage: furthest_along     # or", "stage: conflict_policy     # or"),
        ("facts: as_state           # open", "facts: remember           # open"),
    ):
        assert a in text
        text = text.replace(a, b)
    changed = tmp_path / "changed.yaml"
    changed.write_text(text)
    shown = {}
    for path in (MAPPINGS / "default.yaml", changed):
        result = runner.invoke(app, ["mappings", "show", str(path)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        shown[path] = {
            cells[0]: cells[1]
            for line in result.output.split("Policies", 1)[1].splitlines()
            if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 2
        }
    assert shown[MAPPINGS / "default.yaml"] | {"links": ""} == {
        "stage: sync, conflict": "two_way, hubspot_wins",
        "status: sync, conflict": "two_way, salesforce_wins",
        "first_sight.stage": "furthest_along",
        "first_sight.facts": "as_state",
        "lost_opportunity_demotes_customer": "false",
        "inclusion.hubspot_to_salesforce": "create, from stage mql on",
        "inclusion.salesforce_to_hubspot": "create",
        "links": "",
    }
    mine = shown[changed]
    assert (mine["first_sight.stage"], mine["first_sight.facts"]) == ("conflict_policy", "remember")
    assert mine["lost_opportunity_demotes_customer"] == "true"


def test_mappings_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["mappings", "schema"])
    schema = json.loads(result.output)
    assert schema["title"] == "DefinitionMap"
    assert "stage" in schema["required"]


def test_explain_prints_the_plan_with_reasons() -> None:
    result = runner.invoke(app, EXPLAIN)
    assert result.exit_code == 0, result.output
    assert "Lead_Stage__c = 'Sales Qualified Lead'  <- rule implied_by_status_qualified" in result.output


def test_explain_json_is_stable_and_complete() -> None:
    result = runner.invoke(app, [*EXPLAIN, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert list(doc) == [
        "format", "map", "writes", "skipped", "conflicts", "events", "rules_applied", "values",
        "stage_path", "new_base",
    ]  # fmt: skip
    assert doc["format"] == 1
    assert doc["values"]["stage"] == "sql"
    [sf_write] = doc["writes"]["salesforce"]
    assert sf_write["op"] == "update" and sf_write["object"] == "Lead"
    assert sf_write["fields"]["Lead_Stage__c"] == "Sales Qualified Lead"
    hs_fields = doc["writes"]["hubspot"][0]["fields"]
    assert hs_fields == {"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"}
    assert doc["stage_path"] == ["mql", "sql"]
    # Running it twice gives byte-identical output: scripts may diff it.
    assert runner.invoke(app, [*EXPLAIN, "--json"]).output == result.output


def test_explain_refuses_bad_json_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "sf.json"
    bad.write_text('{"Id": "00Q",\n  "Status": }')
    result = runner.invoke(
        app, ["explain", "--salesforce", str(bad), "--map", str(MAPPINGS / "default.yaml")]
    )
    assert result.exit_code == 2
    assert f"{bad}:2:13: invalid JSON in the Salesforce record" in result.output


def test_explain_refuses_a_record_that_is_not_a_lead(tmp_path: Path) -> None:
    odd = tmp_path / "sf.json"
    odd.write_text(json.dumps({"attributes": {"type": "Account"}, "Id": "001"}))
    result = runner.invoke(
        app, ["explain", "--salesforce", str(odd), "--map", str(MAPPINGS / "default.yaml")]
    )
    assert result.exit_code == 2
    assert "attributes.type must be 'Lead' or 'Contact'" in result.output


def test_explain_needs_a_record() -> None:
    result = runner.invoke(app, ["explain"])
    assert result.exit_code == 2


def test_the_readme_documents_every_exit_code() -> None:
    from worker.cli import EXIT_CODES

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Exit codes and errors", 1)[1].split("\n## ", 1)[0]
    cells = [row.split("|")[1].strip() for row in table.splitlines() if row.startswith("| ")]
    documented = {int(cell) for cell in cells if cell.isdigit()}
    assert documented == set(EXIT_CODES)
