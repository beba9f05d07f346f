"""Invariants of every plan, over the property tests' random states (both maps, first sight, relinked
records, facts) and over records holding hostile values (any text as a stage or status, huge and odd
strings elsewhere): the planner never raises, writes only values the map gives that side, never a
blank except the clear step of a HubSpot backward move, only creates a missing side, writes each
record once per step in order, never writes a converted lead, and gives every change a cause."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from tests.unit.journeys import HS_ID, SF_ID, shipped
from tests.unit.test_plan_properties import MAPS, scenario
from worker.mapping import CompiledMap
from worker.plan import plan
from worker.plan.model import Plan
from worker.records import Facts, hubspot_record, salesforce_record

CAUSES = {"field", "rule", "requirement", "repair", "link", "lifecycle", "first_sight"}


def vocabulary(cmap: CompiledMap, side: str, object_type: str) -> dict[str, set[str]]:
    """CRM field name -> the values the map can write there (mapped fields only)."""
    targets = cmap.hubspot_targets if side == "hubspot" else cmap.salesforce_targets.get(object_type, ())
    return {name: {v for v in table.values() if v} for _, name, table in targets if table is not None}


def assert_invariants(p: Plan, cmap: CompiledMap, sf: Any, hs: Any) -> None:
    steps = Counter((w.side, w.object_type, w.record_id, w.step) for w in p.writes if w.op == "update")
    assert all(n == 1 for n in steps.values()), steps
    for w in p.writes:
        assert w.changes, w
        if w.op == "create":
            assert w.record_id is None and w.step == 1
            assert (sf if w.side == "salesforce" else hs) is None, f"created a {w.side} record that exists"
        else:
            assert w.record_id
        if w.side == "salesforce" and sf is not None and sf.is_converted:
            assert not (w.object_type == "Lead" and w.record_id == sf.id), "wrote a converted lead"
        allowed = vocabulary(cmap, w.side, w.object_type)
        for change in w.changes:
            assert change.cause.kind in CAUSES, change
            clear = (
                w.side == "hubspot"
                and change.field == "lifecyclestage"
                and w.step == 1
                and change.value == ""
            )
            if change.value in (None, ""):
                assert clear and change.cause.kind == "lifecycle", (w, change)
                later = [x for x in p.hubspot if x.record_id == w.record_id and x.step == 2]
                assert later and later[0].values().get("lifecyclestage"), "a clear with no set after it"
            elif change.field in allowed:
                assert change.value in allowed[change.field], (w.side, change.field, change.value)
        if w.step > 1:
            assert any(x.record_id == w.record_id and x.step == w.step - 1 for x in p.writes), w


@fuzz(200)
@given(scenario())
def test_every_plan_of_a_random_state_keeps_the_invariants(case: Any) -> None:
    map_name, sf, hs, base, fx = case
    cmap = shipped(map_name)
    assert_invariants(plan(sf, hs, base, fx, cmap), cmap, sf, hs)


hostile_text = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["'", "\\", " OR ", "%", "_", "A\ud800B", "\x00", "\u202e", "x" * 100_000, "é" * 10_000]),
)


@fuzz(100)
@given(
    map_name=st.sampled_from(MAPS),
    sf_values=st.fixed_dictionaries(
        {f: hostile_text for f in ("Lead_Stage__c", "Status", "Email", "Phone", "LastName", "Company")}
    ),
    hs_values=st.fixed_dictionaries(
        {f: hostile_text for f in ("lifecyclestage", "hs_lead_status", "email", "phone", "lastname")}
    ),
    sides=st.sampled_from(["both", "salesforce", "hubspot"]),
)
def test_hostile_values_from_the_crms_keep_the_invariants(
    map_name: str, sf_values: dict[str, Any], hs_values: dict[str, Any], sides: str
) -> None:
    cmap = shipped(map_name)
    sf = salesforce_record({"attributes": {"type": "Lead"}, "Id": SF_ID, "IsConverted": False, **sf_values})
    hs = hubspot_record({"id": HS_ID, "properties": hs_values})
    sf, hs = (sf, hs) if sides == "both" else (sf, None) if sides == "salesforce" else (None, hs)
    p = plan(sf, hs, None, Facts(), cmap)
    assert_invariants(p, cmap, sf, hs)
    known_sf = {s.salesforce for s in cmap.stages.values()}
    if sf is not None and sf_values["Lead_Stage__c"] not in (None, "", *known_sf):
        assert any(s.kind == "unknown_value" for s in p.skipped), p.skipped
