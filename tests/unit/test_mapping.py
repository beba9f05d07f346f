"""Loading definition maps: the shipped ones compile; every kind of mistake is refused, located."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import MAPPINGS
from worker.errors import MappingError
from worker.mapping import compile_text, load_map

DEFAULT_TEXT = (MAPPINGS / "default.yaml").read_text()


@pytest.mark.parametrize("name", ["default.yaml", "sirius-waterfall.yaml"])
def test_shipped_maps_compile(name: str) -> None:
    cmap = load_map(MAPPINGS / name)
    assert cmap.stage_field.salesforce == "Lead_Stage__c"
    assert cmap.status_field.hubspot == "hs_lead_status"


def test_shared_hubspot_value_reads_back_as_the_primary_stage() -> None:
    cmap = load_map(MAPPINGS / "sirius-waterfall.yaml")
    assert cmap.stage_field.hs_to_canon is not None
    assert cmap.stage_field.hs_to_canon["salesqualifiedlead"] == "sql"
    assert cmap.stage_field.hs_to_canon["lead"] == "mal"


def problems(text: str) -> list[str]:
    with pytest.raises(MappingError) as info:
        compile_text(text, "m.yaml")
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bad_yaml_is_located() -> None:
    [problem] = problems("version: 1\nstage: [unclosed\n")
    assert re.match(r"m\.yaml:\d+: invalid YAML", problem)


def test_unknown_key_is_refused_with_line_and_key() -> None:
    text = DEFAULT_TEXT.replace(
        "  sync: two_way\n  owner: marketing", "  sync: two_way\n  colour: red\n  owner: marketing"
    )
    [problem] = problems(text)
    assert problem.startswith(f"m.yaml:{line_of(text, 'colour: red')}: stage.colour: unknown key")


def test_rule_naming_a_missing_stage_is_refused() -> None:
    text = DEFAULT_TEXT.replace("then: {set_stage: churned}", "then: {set_stage: churnd}")
    [problem] = problems(text)
    assert f"m.yaml:{line_of(text, 'churnd')}:" in problem
    assert "then.set_stage: no stage with id 'churnd'" in problem


def test_two_stages_claiming_one_salesforce_value_are_refused() -> None:
    text = DEFAULT_TEXT.replace("salesforce: Sales Qualified Lead}", "salesforce: Opportunity}")
    [problem] = problems(text)
    assert (
        "stage.values[5].salesforce: Salesforce Lead Stage value 'Opportunity' is already claimed" in problem
    )


def test_status_implying_a_missing_stage_is_refused() -> None:
    text = DEFAULT_TEXT.replace("implies_stage: sql}", "implies_stage: sqll}")
    [problem] = problems(text)
    assert "status.values[4].implies_stage: no stage with id 'sqll'" in problem


def test_every_problem_is_reported_at_once() -> None:
    text = (
        DEFAULT_TEXT.replace("implies_stage: sql}", "implies_stage: sqll}")
        .replace("then: {set_stage: churned}", "then: {set_stage: churnd}")
        .replace("to: [disqualified], note: Anyone", "to: [nobody], note: Anyone")
    )
    assert len(problems(text)) == 3


def test_shared_hubspot_value_without_a_primary_is_refused() -> None:
    text = DEFAULT_TEXT.replace("hubspot: other, hubspot_primary: true,", "hubspot: other,")
    [problem] = problems(text)
    assert "HubSpot value 'other' is shared by 2 entries" in problem


def test_flip_flopping_rules_are_refused() -> None:
    loop = (
        "rules:\n"
        "  - {id: flip, when: {event: stage_changed, to: mql}, then: {set_status: working}}\n"
        "  - {id: flop, when: {event: status_changed, to: working}, then: {set_stage: lead}}\n"
        "  - {id: back, when: {event: stage_changed, to: lead}, then: {set_status: contacted}}\n"
        "  - {id: forth, when: {event: status_changed, to: contacted}, then: {set_stage: mql}}\n"
    )
    text = DEFAULT_TEXT.replace("rules:\n", loop, 1)
    [problem] = problems(text)
    assert f"m.yaml:{line_of(text, 'id: flip')}: rules[0]:" in problem
    assert "back, flip, flop, forth form a loop that flip-flops" in problem


def test_converging_rule_cycles_are_accepted() -> None:
    # Qualified ⇒ SQL ⇒ Qualified revisits the same values: it settles, so the shipped map has it.
    cmap = load_map(MAPPINGS / "default.yaml")
    ids = {r.id for r in cmap.rules}
    assert {"implied_by_status_qualified", "sql_sets_qualified"} <= ids


def test_wrong_types_and_missing_keys_are_located() -> None:
    text = DEFAULT_TEXT.replace("rank: 20,", "rank: twenty,").replace("name: default\n", "")
    found = problems(text)
    assert any("stage.values[2].rank" in p and f"m.yaml:{line_of(text, 'twenty')}" in p for p in found)
    assert any("name: required key is missing" in p for p in found)


def test_unreadable_file_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        load_map(tmp_path / "absent.yaml")
