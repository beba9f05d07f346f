"""Properties of the planner that must hold for any input, checked with hypothesis over both maps."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.fuzzing import examples
from tests.unit.journeys import HS_ID, SF_ID, hubspot_reading, replan, shipped, written
from worker.plan import plan
from worker.records import Base, Facts, Opportunity, hubspot_record, salesforce_record

MAPS = ("default", "sirius-waterfall")
TEXT = st.one_of(st.none(), st.sampled_from(["", "a", "b", "Ada", "ada@x.com", "111", "[not provided]"]))


@st.composite
def scenario(draw: st.DrawFn) -> tuple[str, Any, Any, Base | None, Facts]:
    map_name = draw(st.sampled_from(MAPS))
    cmap = shipped(map_name)
    sf_stages = [s.salesforce for s in cmap.stages.values() if s.salesforce] + [None, "Bogus Stage"]
    hs_stages = [s.hubspot for s in cmap.stages.values() if s.hubspot] + [None, "", "999"]
    sf_statuses = [s.salesforce for s in cmap.statuses.values() if s.salesforce] + [None, "Bogus"]
    hs_statuses = [s.hubspot for s in cmap.statuses.values() if s.hubspot] + [None, "WEIRD"]
    sf = None
    if draw(st.integers(0, 3)) > 0:
        sobject = draw(st.sampled_from(["Lead", "Lead", "Contact"]))
        converted = sobject == "Lead" and draw(st.booleans()) and draw(st.booleans())
        raw: dict[str, Any] = {
            "attributes": {"type": sobject},
            "Id": SF_ID if sobject == "Lead" else "0035e00000XyZaBAAV",
            "Lead_Stage__c": draw(st.sampled_from(sf_stages)),
            "Status": draw(st.sampled_from(sf_statuses)),
            "Company": draw(TEXT),
            "Email": draw(TEXT),
            "FirstName": draw(TEXT),
            "LastName": draw(TEXT),
            "Phone": draw(TEXT),
            "Unqualified_Reason__c": draw(st.sampled_from([None, "Not a Fit"])),
            "IsConverted": converted,
            "ConvertedContactId": draw(st.sampled_from(["0035e00000XyZaBAAV", None])) if converted else None,
            "SystemModstamp": draw(st.integers(0, 3)),
        }
        if sobject == "Contact":  # Contacts have neither Status nor Company
            del raw["Status"], raw["Company"]
        sf = salesforce_record(raw)
    hs = None
    if draw(st.booleans()):
        hs = hubspot_record(
            {
                "id": HS_ID,
                "properties": {
                    "lifecyclestage": draw(st.sampled_from(hs_stages)),
                    "hs_lead_status": draw(st.sampled_from(hs_statuses)),
                    "email": draw(TEXT),
                    "firstname": draw(TEXT),
                    "lastname": draw(TEXT),
                    "phone": draw(TEXT),
                    "company": draw(TEXT),
                },
                "updatedAt": draw(st.integers(0, 3)),
            }
        )
    if sf is None and hs is None:
        sf = salesforce_record({"attributes": {"type": "Lead"}, "Id": SF_ID})
    base = None
    if draw(st.booleans()):
        stage = draw(st.sampled_from([*cmap.stages, None]))
        status = draw(st.sampled_from([*cmap.statuses, None]))
        values = {"stage": stage, "status": status, "email": draw(TEXT), "phone": draw(TEXT)}
        sf_side: dict[str, str | None] = {}
        hs_side: dict[str, str | None] = {}
        if draw(st.booleans()):  # as a previous plan stores it: what each side held, maybe diverged
            sf_side = {
                "stage": draw(st.sampled_from(sf_stages)),
                "status": draw(st.sampled_from(sf_statuses)),
            }
            hs_side = {
                "stage": draw(st.sampled_from(hs_stages)),
                "status": draw(st.sampled_from(hs_statuses)),
            }
        base = Base(values=values, salesforce_values=sf_side, hubspot_values=hs_side)
        known = draw(st.sampled_from(["both", "both", "salesforce", "hubspot", "relinked"]))
        if known == "salesforce":  # synced while HubSpot had no record: a HubSpot contact is newly seen
            base = Base(values, sf_side or {"stage": None}, {}, salesforce_object="Lead", salesforce_id=SF_ID)
        elif known == "hubspot":
            base = Base(values, {}, hs_side or {"stage": None}, hubspot_id=HS_ID)
        elif known == "relinked":  # the base names another HubSpot contact (merged, re-created)
            base = Base(values, sf_side, hs_side, hubspot_id="777")
    opp_states = draw(st.lists(st.sampled_from(["open", "won", "lost"]), max_size=2))
    fx = Facts(
        opportunities=tuple(
            Opportunity(f"006{i}", is_closed=s != "open", is_won=s == "won") for i, s in enumerate(opp_states)
        ),
        account_is_customer=draw(st.booleans()),
        account_churned=draw(st.booleans()),
        completed_calls=frozenset(draw(st.lists(st.sampled_from(["00T1", "00T2"]), max_size=2))),
        meetings=frozenset(draw(st.lists(st.sampled_from(["00U1"]), max_size=1))),
    )
    return map_name, sf, hs, base, fx


# CRMSYNC_PROPERTY_EXAMPLES=6000 for a deeper run (about 3.5 CPU-minutes); CI runs the default.
PROPERTY_SETTINGS = settings(
    max_examples=examples(int(os.environ.get("CRMSYNC_PROPERTY_EXAMPLES", "400"))),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(scenario())
def test_applying_a_plan_then_planning_again_writes_nothing(case: Any) -> None:
    map_name, sf, hs, base, fx = case
    cmap = shipped(map_name)
    first = plan(sf, hs, base, fx, cmap)
    second = replan(first, sf, hs, fx, cmap)
    assert not second.has_writes, (first.writes, second.writes)


@PROPERTY_SETTINGS
@given(scenario())
def test_the_plan_is_deterministic(case: Any) -> None:
    map_name, sf, hs, base, fx = case
    cmap = shipped(map_name)
    assert plan(sf, hs, base, fx, cmap) == plan(sf, hs, base, fx, cmap)


@PROPERTY_SETTINGS
@given(scenario())
def test_no_plan_moves_a_stage_backward_against_the_transitions(case: Any) -> None:
    map_name, sf, hs, base, fx = case
    cmap = shipped(map_name)
    result = plan(sf, hs, base, fx, cmap)
    path = result.stage_path
    before = base.values.get("stage") if base is not None else None
    if before:
        assert path[0] == before
    assert path[-1:] == ((result.values["stage"],) if result.values.get("stage") else ())
    for current, new in itertools.pairwise(path):
        if cmap.is_backward(current, new):
            assert cmap.backward_move_allowed(current, new), path
    # HubSpot is only ever moved back by an explicit clear then set, in two ordered requests.
    order = cmap.hubspot_stage_order
    if hs is not None:
        now = hs.properties.get("lifecyclestage")
        sets = [w for w in result.hubspot if "lifecyclestage" in w.values()]
        for w in sets:
            value = w.values()["lifecyclestage"]
            if value and now in order and order[value] < order[now]:
                assert [x.step for x in result.hubspot] == [1, 2]
                assert result.hubspot[0].values() == {"lifecyclestage": ""}


FIELDS = {"email": ("Email", "email"), "phone": ("Phone", "phone"), "first_name": ("FirstName", "firstname")}


@settings(max_examples=examples(300), deadline=None)
@given(
    map_name=st.sampled_from(MAPS),
    field_id=st.sampled_from(sorted(FIELDS)),
    side=st.sampled_from(["salesforce", "hubspot"]),
    old=st.sampled_from(["a@x.com", "111", "Ada"]),
    new=st.text(alphabet="abcdefgh@.1", min_size=1, max_size=12),
)
def test_a_field_changed_on_one_side_only_reaches_the_other(
    map_name: str, field_id: str, side: str, old: str, new: str
) -> None:
    cmap = shipped(map_name)
    sf_name, hs_name = FIELDS[field_id]
    sf_value = new if side == "salesforce" else old
    hs_value = new if side == "hubspot" else old
    sf = salesforce_record(
        {"attributes": {"type": "Lead"}, "Id": SF_ID, sf_name: sf_value, "HubSpot_Contact_ID__c": HS_ID}
    )
    hs = hubspot_record({"id": HS_ID, "properties": {hs_name: hs_value, "salesforce_lead_id": SF_ID}})
    base = Base(values={field_id: old}, salesforce_values={field_id: old}, hubspot_values={field_id: old})
    result = plan(sf, hs, base, None, cmap)
    other = "hubspot" if side == "salesforce" else "salesforce"
    other_name = hs_name if other == "hubspot" else sf_name
    if new != old:
        assert written(result, other).get(other_name) == new
    else:
        assert other_name not in written(result, other)


@st.composite
def one_sided_stage_move(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(map, side, from stage, to stage): a move the map allows, made on one side only."""
    map_name = draw(st.sampled_from(MAPS))
    cmap = shipped(map_name)
    side = draw(st.sampled_from(["salesforce", "hubspot"]))
    have = [s.id for s in cmap.stages.values() if s.salesforce and s.hubspot]
    old = draw(st.sampled_from(have))
    new = draw(st.sampled_from([s for s in have if s != old]))
    if cmap.is_backward(old, new):
        assume(cmap.backward_move_allowed(old, new))
    if side == "hubspot":
        field = cmap.stage_field
        assert field.canon_to_hs is not None and field.hs_to_canon is not None
        assume(field.canon_to_hs[new] != field.canon_to_hs[old])  # HubSpot can tell them apart
    return map_name, side, old, new


@settings(max_examples=examples(300), deadline=None)
@given(one_sided_stage_move())
def test_a_stage_changed_on_one_side_only_reaches_the_other(case: tuple[str, str, str, str]) -> None:
    map_name, side, old, new = case
    cmap = shipped(map_name)
    stage = cmap.stages
    sf_stage = stage[new].salesforce if side == "salesforce" else stage[old].salesforce
    hs_stage = stage[new].hubspot if side == "hubspot" else stage[old].hubspot
    sf = salesforce_record(
        {
            "attributes": {"type": "Lead"},
            "Id": SF_ID,
            "Lead_Stage__c": sf_stage,
            "HubSpot_Contact_ID__c": HS_ID,
        }
    )
    hs = hubspot_record(
        {"id": HS_ID, "properties": {"lifecyclestage": hs_stage, "salesforce_lead_id": SF_ID}}
    )
    base = Base(
        values={"stage": old},
        salesforce_values={"stage": stage[old].salesforce},
        hubspot_values={"stage": stage[old].hubspot},
    )
    result = plan(sf, hs, base, None, cmap)
    if side == "salesforce":
        assert new in result.stage_path, (result.stage_path, result.skipped)
    else:  # a HubSpot value may stand for several stages: one the person may move to was taken
        assert any(stage[s].hubspot == hs_stage for s in result.stage_path[1:]), (
            result.stage_path,
            result.skipped,
        )
    final = result.values["stage"]
    other = "hubspot" if side == "salesforce" else "salesforce"
    name = "lifecyclestage" if other == "hubspot" else "Lead_Stage__c"
    image = stage[final].hubspot if other == "hubspot" else stage[final].salesforce
    held = hs_stage if other == "hubspot" else sf_stage
    if image != held:
        assert written(result, other).get(name) == image, (result.writes, result.skipped)


# --- first sight (policies.first_sight) ------------------------------------------------------------


def _rank(cmap: Any, stage: str | None) -> int:
    return cmap.stages[stage].rank if stage is not None else -1


def _readings(cmap: Any, sf: Any, hs: Any) -> tuple[str | None, str | None]:
    """The stage each side says, in the map's terms (None: blank, unknown, or no such record)."""
    field = cmap.stage_field
    sf_stage = None
    if sf is not None and sf.object_type in field.salesforce_objects:
        sf_stage = field.sf_to_canon.get(sf.values.get("Lead_Stage__c") or "")
    hs_value = hs.properties.get("lifecyclestage") if hs is not None else None
    hs_stage = hubspot_reading(cmap, hs_value, sf_stage) if hs_value in field.hs_to_canon else None
    return sf_stage, hs_stage


@PROPERTY_SETTINGS
@given(scenario(), st.booleans())
def test_on_first_sight_no_side_moves_to_a_lower_stage_unless_the_policy_allows(
    case: Any, conflict_policy: bool
) -> None:
    """No base: the person ends at least as far along as either side said (furthest_along). Under
    conflict_policy a lower stage is reached only by moves the transitions allow. Either way, the plan
    applied and planned again writes nothing."""
    map_name, sf, hs, _, fx = case
    cmap = shipped(f"{map_name}+conflict_policy" if conflict_policy and map_name == "default" else map_name)
    result = plan(sf, hs, None, fx, cmap)
    final = result.values.get("stage")
    sf_stage, hs_stage = _readings(cmap, sf, hs)
    if cmap.first_sight_furthest_along:
        assert _rank(cmap, final) >= max(_rank(cmap, sf_stage), _rank(cmap, hs_stage)), (
            sf_stage,
            hs_stage,
            result.stage_path,
            result.skipped,
        )
        for current, new in itertools.pairwise(result.stage_path):
            assert not cmap.is_backward(current, new), result.stage_path
    else:
        for current, new in itertools.pairwise(result.stage_path):
            if cmap.is_backward(current, new):
                assert cmap.backward_move_allowed(current, new), result.stage_path
    assert "contradiction" not in {s.kind for s in result.skipped}, result.skipped
    assert not replan(result, sf, hs, fx, cmap).has_writes


@PROPERTY_SETTINGS
@given(scenario(), st.sampled_from(["salesforce", "hubspot"]))
def test_a_newly_seen_record_only_ever_lifts_the_person(case: Any, new_side: str) -> None:
    """The base knows one side, unchanged since; the other record is newly created or linked (a form
    fill). Its stage and status may lift the person, never leave them below where they were."""
    map_name, sf, hs, _, _ = case
    assume(sf is not None and hs is not None)
    cmap = shipped(map_name)
    field, status_field = cmap.stage_field, cmap.status_field
    if new_side == "hubspot":
        held = {"stage": sf.values.get("Lead_Stage__c"), "status": sf.values.get("Status")}
        canonical = {"stage": field.sf_to_canon.get(held["stage"] or ""),
                     "status": status_field.sf_to_canon.get(held["status"] or "")}  # fmt: skip
        base = Base(canonical, held, {}, salesforce_object="Lead", salesforce_id=sf.id)
        blanked = replace(hs, properties={**hs.properties, "lifecyclestage": None, "hs_lead_status": None})
        with_new, without = plan(sf, hs, base, None, cmap), plan(sf, blanked, base, None, cmap)
    else:
        held = {"stage": hs.properties.get("lifecyclestage"), "status": hs.properties.get("hs_lead_status")}
        canonical = {"stage": field.hs_to_canon.get(held["stage"] or ""),
                     "status": status_field.hs_to_canon.get(held["status"] or "")}  # fmt: skip
        base = Base(canonical, {}, held, hubspot_id=hs.id)
        blanked = replace(sf, values={**sf.values, "Lead_Stage__c": None, "Status": None})
        with_new, without = plan(sf, hs, base, None, cmap), plan(blanked, hs, base, None, cmap)
    assert _rank(cmap, with_new.values.get("stage")) >= _rank(cmap, without.values.get("stage")), (
        with_new.stage_path,
        without.stage_path,
    )
    assert "contradiction" not in {s.kind for s in with_new.skipped}, with_new.skipped
    assert not replan(with_new, sf, hs, None, cmap).has_writes
