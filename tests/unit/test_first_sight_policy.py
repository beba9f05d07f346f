"""`policies.first_sight` in the definition map: declared in both shipped maps, defaulted, checked."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.conftest import MAPPINGS
from worker.cli import app
from worker.errors import MappingError
from worker.mapping import compile_text, load_map

DEFAULT_TEXT = (MAPPINGS / "default.yaml").read_text()


@pytest.mark.parametrize("name", ["default.yaml", "sirius-waterfall.yaml"])
def test_shipped_maps_declare_the_furthest_along_policy(name: str) -> None:
    text = (MAPPINGS / name).read_text()
    assert "stage: furthest_along" in text and "facts: as_state" in text
    cmap = load_map(MAPPINGS / name)
    assert cmap.first_sight_furthest_along and cmap.first_sight_facts_as_state


def test_a_map_without_the_policy_gets_the_furthest_along_default() -> None:
    start = DEFAULT_TEXT.index("  # First sight:")
    cmap = compile_text(DEFAULT_TEXT[:start], "m.yaml")
    assert cmap.first_sight_furthest_along and cmap.first_sight_facts_as_state


def test_the_alternatives_compile() -> None:
    text = DEFAULT_TEXT.replace("stage: furthest_along", "stage: conflict_policy").replace(
        "facts: as_state", "facts: remember"
    )
    cmap = compile_text(text, "m.yaml")
    assert not cmap.first_sight_furthest_along and not cmap.first_sight_facts_as_state


def test_an_unknown_first_sight_policy_is_refused_with_its_line() -> None:
    text = DEFAULT_TEXT.replace("stage: furthest_along", "stage: newest")
    with pytest.raises(MappingError) as info:
        compile_text(text, "m.yaml")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "stage: newest" in row)
    [problem] = info.value.problems
    assert problem.startswith(f"m.yaml:{line}: policies.first_sight.stage:"), problem
    assert "furthest_along" in problem and "conflict_policy" in problem


def test_explain_help_describes_every_facts_key() -> None:
    result = CliRunner().invoke(app, ["explain", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for key in ("opportunities", "account_is_customer", "account_churned", "completed_calls", "meetings",
                "converted", "new_record"):  # fmt: skip
        assert key in result.output, key


def test_facts_remember_keeps_first_sight_facts_without_firing_them() -> None:
    from tests.unit.journeys import facts, hs_contact, sf_lead
    from worker.plan import plan

    text = DEFAULT_TEXT.replace("facts: as_state", "facts: remember")
    cmap = compile_text(text, "m.yaml")
    won = facts(opportunities=[{"id": "006A", "is_closed": True, "is_won": True}])
    sf, hs = sf_lead(stage="Sales Qualified Lead", status="Qualified"), hs_contact(stage="salesqualifiedlead")
    result = plan(sf, hs, None, won, cmap)
    assert result.values["stage"] == "sql"
    assert "opportunity_won" not in result.events
    assert result.new_base.facts.opportunities == (("006A", "won"),)  # remembered: it never fires later
    assert "opportunity_won" not in plan(sf, hs, result.new_base, won, cmap).events


@pytest.mark.parametrize(
    ("policy", "new_record", "stage"),
    [
        ("as_state", None, "customer"),
        ("as_state", False, "lead"),
        ("remember", None, "lead"),
        ("remember", True, "customer"),
    ],
)
def test_a_customer_account_makes_a_new_person_customer_as_the_policy_and_new_record_say(
    policy: str, new_record: bool | None, stage: str
) -> None:
    from tests.unit.journeys import facts, sf_lead
    from worker.plan import plan

    cmap = compile_text(DEFAULT_TEXT.replace("facts: as_state", f"facts: {policy}"), "m.yaml")
    fx = facts(account_is_customer=True, **({} if new_record is None else {"new_record": new_record}))
    assert plan(sf_lead(stage="Lead", status="Open"), None, None, fx, cmap).values["stage"] == stage


@pytest.mark.parametrize(
    ("raw", "parsed"), [({}, None), ({"new_record": None}, None), ({"new_record": False}, False)]
)
def test_facts_new_record_is_optional_and_round_trips(raw: dict[str, object], parsed: bool | None) -> None:
    from worker.errors import InputError
    from worker.records import facts_from_json, facts_to_json

    facts = facts_from_json({"account_is_customer": True, **raw})
    assert facts.new_record is parsed
    assert facts_from_json(facts_to_json(facts)) == facts
    with pytest.raises(InputError, match="new_record"):
        facts_from_json({"new_record": "yes"})
