"""Properties of the planner that must hold for any input, checked with hypothesis over both maps."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.journeys import HS_ID, SF_ID, replan, shipped, written
from worker.plan import plan
from worker.records import Base, Facts, Opportunity, hubspot_record, salesforce_record

MAPS = ("default", "sirius-waterfall")
TEXT = st.one_of(st.none(), st.sampled_from(["", "a", "b", "Ada", "ada@x.com", "111"]))


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
        converted = draw(st.booleans()) and draw(st.booleans())
        sf = salesforce_record(
            {
                "attributes": {"type": "Lead"},
                "Id": SF_ID,
                "Lead_Stage__c": draw(st.sampled_from(sf_stages)),
                "Status": draw(st.sampled_from(sf_statuses)),
                "Email": draw(TEXT),
                "FirstName": draw(TEXT),
                "LastName": draw(TEXT),
                "Phone": draw(TEXT),
                "Unqualified_Reason__c": draw(st.sampled_from([None, "Not a Fit"])),
                "IsConverted": converted,
                "ConvertedContactId": "0035e00000XyZaBAAV" if converted else None,
                "SystemModstamp": draw(st.integers(0, 3)),
            }
        )
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
        base = Base(values=values, salesforce_values={}, hubspot_values={})
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


PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


@settings(max_examples=300, deadline=None)
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
