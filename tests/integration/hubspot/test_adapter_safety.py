"""Adapter safety: lifecycle moves that cannot wipe a stage, duplicate keys, merged ids, refresh once,
whole-batch 400s that are not re-sent blindly — all through hubspot-api-client against the sandbox."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import HubSpotAdapter
from worker.crm.hubspot.adapter import MAX_SPLITS
from worker.crm.port import Outcome
from worker.errors import FatalError

from .conftest import make_settings

pytestmark = pytest.mark.integration

BATCH_UPDATE = "/crm/v3/objects/contacts/batch/update"


def create(hs: Any, **props: str) -> str:
    return str(hs.crm.contacts.basic_api.create({"properties": props}).id)


def props_of(hs: Any, cid: str, *names: str) -> dict[str, Any]:
    return dict(hs.crm.contacts.basic_api.get_by_id(cid, properties=list(names)).properties)


def contacts_with_email(sandbox: HubSpotSandbox, email: str) -> list[int]:
    store = sandbox.portal.stores["contacts"]
    return [r.id for r in store.records.values() if r.props.get("email") == email]


# ------------------------------------------------------------------ 1. backward lifecycle moves
def test_backward_move_to_a_stage_the_portal_lacks_writes_nothing(adapter: HubSpotAdapter, hs: Any) -> None:
    cid = create(hs, email="lc@example.com", lifecyclestage="customer")
    before = props_of(hs, cid, "lifecyclestage", "lastmodifieddate")
    res = adapter.move_lifecycle_backward({cid: "lead "})
    assert not res[cid].ok and res[cid].error is not None and res[cid].error.code == "INVALID_OPTION"
    assert props_of(hs, cid, "lifecyclestage", "lastmodifieddate") == before


def test_backward_move_whose_set_is_refused_restores_the_old_stage(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any
) -> None:
    cid = create(hs, email="lc@example.com", lifecyclestage="customer")
    sandbox.arm_fault(
        path_prefix=BATCH_UPDATE, status=400, skip=1, count=1
    )  # the clear passes, the set fails
    res = adapter.move_lifecycle_backward({cid: "lead"})
    assert not res[cid].ok and res[cid].error is not None and res[cid].error.status == 400
    assert props_of(hs, cid, "lifecyclestage")["lifecyclestage"] == "customer"


def test_backward_move_stopped_part_way_restores_the_old_stage(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any
) -> None:
    cid = create(hs, email="lc@example.com", lifecyclestage="customer")
    sandbox.arm_fault(path_prefix=BATCH_UPDATE, status=403, skip=1, count=1)  # the set stops the write
    report = adapter.move_lifecycle_backward({cid: "lead"})
    assert report.stopped is not None and isinstance(report.stopped.error, FatalError)
    assert report[cid].state is Outcome.NOT_APPLIED  # restored: safe to move again
    assert props_of(hs, cid, "lifecyclestage")["lifecyclestage"] == "customer"


def test_backward_move_whose_restore_fails_says_which_stage_was_lost(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any
) -> None:
    cid = create(hs, email="lc@example.com", lifecyclestage="customer")
    sandbox.arm_fault(path_prefix=BATCH_UPDATE, status=400, skip=1, count=2)  # set and restore both fail
    res = adapter.move_lifecycle_backward({cid: "lead"})
    err = res[cid].error
    assert err is not None and err.code == "LIFECYCLE_RESTORE_FAILED" and "'customer'" in str(err)
    assert props_of(hs, cid, "lifecyclestage")["lifecyclestage"] is None


def test_backward_move_of_a_merged_away_id_is_keyed_by_the_id_asked_for(
    adapter: HubSpotAdapter, hs: Any
) -> None:
    keep = create(hs, email="keep@x.com", lifecyclestage="customer")
    gone = create(hs, email="gone@x.com")
    hs.crm.contacts.basic_api.merge({"primaryObjectId": keep, "objectIdToMerge": gone})
    res = adapter.move_lifecycle_backward({gone: "lead"})
    assert set(res) == {gone}
    assert res[gone].ok and res[gone].redirected and res[gone].id == keep
    assert props_of(hs, keep, "lifecyclestage")["lifecyclestage"] == "lead"


# ------------------------------------------------------------------ 3. merged-away ids on update
def test_update_of_a_merged_away_id_is_reported_applied_and_redirected(
    adapter: HubSpotAdapter, hs: Any
) -> None:
    keep = create(hs, email="keep@x.com")
    gone = create(hs, email="gone@x.com")
    other = create(hs, email="other@x.com")
    hs.crm.contacts.basic_api.merge({"primaryObjectId": keep, "objectIdToMerge": gone})
    res = adapter.update({gone: {"hs_lead_status": "CONNECTED"}, other: {"hs_lead_status": "OPEN"}})
    assert res[gone].ok and res[gone].redirected and res[gone].id == keep
    assert res[other].ok and not res[other].redirected
    assert props_of(hs, keep, "hs_lead_status")["hs_lead_status"] == "CONNECTED"


# ------------------------------------------------------------------ 2. duplicate keys in one batch
def test_upsert_spellings_of_one_email_with_the_same_properties_are_merged(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    res = adapter.upsert_by_email(
        {"Dup@Example.com": {"firstname": "A"}, " dup@example.com": {"firstname": "A"}}
    )
    assert set(res) == {"dup@example.com"} and res["dup@example.com"].ok and res["dup@example.com"].created
    assert len(contacts_with_email(sandbox, "dup@example.com")) == 1


def test_upsert_spellings_of_one_email_that_disagree_are_rejected_unsent(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox
) -> None:
    res = adapter.upsert_by_email(
        {"Dup@Example.com": {"firstname": "A"}, "dup@example.com": {"firstname": "B"}, "ok@example.com": {}}
    )
    err = res["dup@example.com"].error
    assert err is not None and err.code == "DUPLICATE_INPUT"
    assert res["ok@example.com"].ok
    assert contacts_with_email(sandbox, "dup@example.com") == []


def test_update_ids_that_collide_after_normalising_are_rejected_unsent(
    adapter: HubSpotAdapter, hs: Any
) -> None:
    cid = create(hs, email="u@example.com")
    res = adapter.update({cid: {"firstname": "A"}, f" {cid} ": {"firstname": "B"}})
    assert set(res) == {cid}
    err = res[cid].error
    assert err is not None and err.code == "DUPLICATE_INPUT"
    assert props_of(hs, cid, "firstname")["firstname"] is None


# ------------------------------------------------------------------ 5. whole-batch 400s
def test_a_400_naming_a_property_every_input_carries_rejects_all_in_one_call(
    adapter: HubSpotAdapter, hs: Any
) -> None:
    ids = [create(hs, email=f"s{i}@example.com") for i in range(100)]
    res = adapter.update({i: {"salesforce_leadid_typo": "00Q1"} for i in ids})
    assert all(r.error is not None and r.error.status == 400 for r in res.values())
    assert adapter.transport.stats.calls == 1


def test_a_400_naming_a_property_some_inputs_carry_rejects_those_and_sends_the_rest_once(
    adapter: HubSpotAdapter, hs: Any
) -> None:
    ids = [create(hs, email=f"s{i}@example.com") for i in range(100)]
    updates = {i: {"firstname": "X"} for i in ids}
    for i in ids[:30]:
        updates[i] = {"firstname": "X", "no_such_property": "1"}
    res = adapter.update(updates)
    assert {i for i, r in res.items() if not r.ok} == set(ids[:30])
    assert all(res[i].ok for i in ids[30:])
    assert adapter.transport.stats.calls == 2
    assert props_of(hs, ids[99], "firstname")["firstname"] == "X"


def test_a_400_naming_ids_rejects_those_and_sends_the_rest_once(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any
) -> None:
    ids = [create(hs, email=f"s{i}@example.com") for i in range(10)]
    # HubSpot's recorded answer [B, rudder-transformer dataDelivery/other.ts], naming one of our ids
    recorded = {
        "status": "error",
        "message": f"Duplicate IDs found in batch input: [{ids[3]}]. IDs must be unique",
        "correlationId": "d24ec5cd-8998-4674-a928-59603ae6b0eb",
        "context": {"ids": [ids[3]]},
        "category": "VALIDATION_ERROR",
    }
    sandbox.arm_fault(path_prefix=BATCH_UPDATE, status=400, body=recorded, count=1)
    res = adapter.update({i: {"firstname": "X"} for i in ids})
    err = res[ids[3]].error
    assert err is not None and "Duplicate IDs found" in str(err)
    assert all(res[i].ok for i in ids if i != ids[3])
    assert adapter.transport.stats.calls == 2


def test_an_unidentified_bad_input_is_isolated_by_halving(adapter: HubSpotAdapter, hs: Any) -> None:
    ids = [create(hs, email=f"s{i}@example.com") for i in range(100)]
    updates = {i: {"lifecyclestage": "lead"} for i in ids}
    updates[ids[37]] = {"lifecyclestage": "not-a-stage"}
    res = adapter.update(updates)
    assert [i for i, r in res.items() if not r.ok] == [ids[37]]
    assert adapter.transport.stats.calls <= 1 + 2 * 7


def test_re_sends_stop_at_the_split_budget(adapter: HubSpotAdapter, hs: Any) -> None:
    ids = [create(hs, email=f"s{i}@example.com") for i in range(100)]
    # every input has its own bad option value: each answer names one refused value, so each re-send
    # isolates one input; the budget bounds the calls and the rest is rejected, saying why
    res = adapter.update({i: {"lifecyclestage": f"bad-{n}"} for n, i in enumerate(ids)})
    assert all(not r.ok for r in res.values())
    assert adapter.transport.stats.calls == 1 + MAX_SPLITS
    unisolated = [r for r in res.values() if r.error is not None and "not isolated" in str(r.error)]
    assert len(unisolated) == 100 - (1 + MAX_SPLITS)


def test_halving_stops_at_the_split_budget_when_the_error_names_nobody(
    adapter: HubSpotAdapter, sandbox: HubSpotSandbox, hs: Any
) -> None:
    ids = [create(hs, email=f"h{i}@example.com") for i in range(100)]
    generic = {"status": "error", "message": "There was a problem with the request.", "correlationId": "c"}
    sandbox.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/update", status=400, body=generic)
    res = adapter.update({i: {"firstname": "X"} for i in ids})
    assert all(not r.ok for r in res.values())
    assert adapter.transport.stats.calls == 1 + 2 * MAX_SPLITS


# ------------------------------------------------------------------ 4. token refresh
def oauth_adapter(sandbox: HubSpotSandbox, access: str, refresh: str, secret: str) -> HubSpotAdapter:
    return HubSpotAdapter(
        make_settings(
            sandbox,
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            client_id="sandbox-client-id",
            client_secret=SecretStr(secret),
        )
    )


def test_a_401_right_after_a_refresh_is_fatal_after_one_refresh(sandbox: HubSpotSandbox, hs: Any) -> None:
    cid = create(hs, email="o@example.com")
    access, refresh = sandbox.issue_oauth_tokens(ttl_s=60)
    sandbox.backend.auth.access_ttl_s = -1  # refreshed tokens come back already expired
    sandbox.advance_clock(120_000)
    adapter = oauth_adapter(sandbox, access, refresh, "sandbox-client-secret")
    with pytest.raises(FatalError):
        adapter.read([cid])
    assert adapter.transport.stats.refreshes == 1
    assert adapter.transport.stats.calls == 2


def test_each_logical_call_may_refresh_once(sandbox: HubSpotSandbox, hs: Any) -> None:
    cid = create(hs, email="o@example.com")
    access, refresh = sandbox.issue_oauth_tokens(ttl_s=60)
    adapter = oauth_adapter(sandbox, access, refresh, "sandbox-client-secret")
    sandbox.advance_clock(120_000)
    assert set(adapter.read([cid])) == {cid}
    sandbox.advance_clock(sandbox.backend.auth.access_ttl_s * 1000 + 60_000)  # the new token expires too
    assert set(adapter.read([cid])) == {cid}
    assert adapter.transport.stats.refreshes == 2


def test_an_expired_token_without_refresh_settings_is_fatal(sandbox: HubSpotSandbox, hs: Any) -> None:
    cid = create(hs, email="o@example.com")
    access, _ = sandbox.issue_oauth_tokens(ttl_s=60)
    sandbox.advance_clock(120_000)
    adapter = HubSpotAdapter(make_settings(sandbox, access_token=SecretStr(access)))
    with pytest.raises(FatalError) as info:
        adapter.read([cid])
    assert "no refresh token" in str(info.value) and access not in str(info.value)
    assert adapter.transport.stats.calls == 1


@pytest.mark.parametrize(
    ("refresh", "secret"),
    [("not-a-refresh-token", "sandbox-client-secret"), (None, "wrong-client-secret-value")],
)
def test_a_failed_refresh_is_fatal_and_leaks_no_secret(
    sandbox: HubSpotSandbox, hs: Any, caplog: pytest.LogCaptureFixture, refresh: str | None, secret: str
) -> None:
    cid = create(hs, email="o@example.com")
    access, good_refresh = sandbox.issue_oauth_tokens(ttl_s=60)
    sandbox.advance_clock(120_000)
    refresh_token = refresh or good_refresh
    adapter = oauth_adapter(sandbox, access, refresh_token, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalError) as info:
        adapter.read([cid])
    assert "token refresh failed" in str(info.value)
    assert adapter.transport.stats.refreshes == 0
    shown = "\n".join([str(info.value), repr(info.value), str(info.value.__cause__), caplog.text])
    for value in (secret, refresh_token, access):
        assert value not in shown
