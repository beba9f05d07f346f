"""The sandbox's CRM v3 surface, driven by the real hubspot-api-client over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException, UnauthorizedException

from sandbox.hubspot.server import HubSpotSandbox

pytestmark = pytest.mark.integration


def body(exc: ApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def create(hs: Any, **props: str) -> Any:
    return hs.crm.contacts.basic_api.create({"properties": props})


def test_unknown_token_is_401_invalid_authentication(sandbox: HubSpotSandbox) -> None:
    with pytest.raises(UnauthorizedException) as info:
        sandbox.client(access_token="pat-na1-wrong").crm.contacts.basic_api.get_page()
    doc = body(info.value)
    assert doc["category"] == "INVALID_AUTHENTICATION"
    assert doc["message"].startswith("Authentication credentials not found.")
    assert doc["status"] == "error" and doc["correlationId"]


def test_create_returns_201_shape_with_server_maintained_properties(hs: Any) -> None:
    rec = create(hs, email="ada@example.com", firstname="Ada")
    assert rec.id.isdigit()
    assert rec.properties["hs_object_id"] == rec.id
    assert rec.properties["createdate"].endswith("Z") and rec.properties["lastmodifieddate"]
    assert rec.archived is False


def test_get_by_email_id_property(hs: Any) -> None:
    rec = create(hs, email="grace@example.com", lifecyclestage="lead")
    got = hs.crm.contacts.basic_api.get_by_id(
        "grace@example.com", id_property="email", properties=["email", "lifecyclestage"]
    )
    assert got.id == rec.id
    assert got.properties["lifecyclestage"] == "lead"


def test_requested_unset_property_is_null_and_unknown_is_ignored(hs: Any) -> None:
    rec = create(hs, email="x@example.com")
    got = hs.crm.contacts.basic_api.get_by_id(rec.id, properties=["firstname", "no_such_prop"])
    assert got.properties["firstname"] is None
    assert "no_such_prop" not in got.properties


def test_duplicate_email_is_409_conflict_with_existing_id(hs: Any) -> None:
    rec = create(hs, email="dup@example.com")
    with pytest.raises(ApiException) as info:
        create(hs, email="DUP@example.com")
    assert info.value.status == 409
    doc = body(info.value)
    assert doc["category"] == "CONFLICT"
    assert doc["message"] == f"Contact already exists. Existing ID: {rec.id}"


def test_update_with_empty_string_clears(hs: Any) -> None:
    rec = create(hs, email="c@example.com", firstname="Clear")
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"firstname": ""}})
    got = hs.crm.contacts.basic_api.get_by_id(rec.id, properties=["firstname"])
    assert got.properties["firstname"] is None


def test_archive_then_get_is_404_and_archived_listing_shows_it(hs: Any) -> None:
    rec = create(hs, email="gone@example.com")
    assert hs.crm.contacts.basic_api.archive(rec.id) is None
    with pytest.raises(NotFoundException) as info:
        hs.crm.contacts.basic_api.get_by_id(rec.id)
    assert body(info.value)["category"] == "OBJECT_NOT_FOUND"
    page = hs.crm.contacts.basic_api.get_page(archived=True)
    assert [r.id for r in page.results] == [rec.id]
    assert page.results[0].archived is True and page.results[0].archived_at is not None


def test_archive_unknown_id_is_204(hs: Any) -> None:
    assert hs.crm.contacts.basic_api.archive("987654321") is None


def test_list_pages_with_after_and_get_all_sees_everything(hs: Any, sandbox: HubSpotSandbox) -> None:
    from sandbox.hubspot.seed import seed_contacts

    with sandbox.backend.lock:
        ids = seed_contacts(sandbox.portal, 250)
    first = hs.crm.contacts.basic_api.get_page(limit=100)
    assert len(first.results) == 100 and first.paging.next.after
    everything = hs.crm.contacts.get_all()
    assert sorted(int(r.id) for r in everything) == sorted(ids)


def test_list_limit_above_100_is_400(hs: Any) -> None:
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.get_page(limit=101)
    assert info.value.status == 400 and body(info.value)["category"] == "VALIDATION_ERROR"


def test_batch_read_partial_is_207_with_object_not_found(hs: Any) -> None:
    rec = create(hs, email="b@example.com")
    res = hs.crm.contacts.batch_api.read({"inputs": [{"id": rec.id}, {"id": "1"}], "properties": ["email"]})
    assert [r.id for r in res.results] == [rec.id]
    assert res.num_errors == 1
    assert res.errors[0].category == "OBJECT_NOT_FOUND"
    assert res.errors[0].context == {"ids": ["1"]}


def test_batch_create_is_201_and_existing_email_refuses_whole_batch(hs: Any) -> None:
    res = hs.crm.contacts.batch_api.create(
        {"inputs": [{"properties": {"email": f"n{i}@example.com"}} for i in range(3)]}
    )
    assert len(res.results) == 3 and res.status == "COMPLETE"
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.create(
            {
                "inputs": [
                    {"properties": {"email": "fresh@example.com"}},
                    {"properties": {"email": "n1@example.com"}},
                ]
            }
        )
    assert info.value.status == 409
    assert (
        hs.crm.contacts.search_api.do_search(
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "EQ", "value": "fresh@example.com"}]}
                ]
            }
        ).total
        == 0
    )


def test_batch_over_100_inputs_is_400(hs: Any) -> None:
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.read({"inputs": [{"id": str(i)} for i in range(101)]})
    assert info.value.status == 400 and body(info.value)["category"] == "VALIDATION_ERROR"
    assert body(info.value)["message"] == (
        "The maximum number of inputs supported in a batch is 100. "
        "Please reduce the number of items and try again"
    )
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.read(
            {"inputs": [{"id": str(i)} for i in range(51)], "propertiesWithHistory": ["email"]}
        )
    assert "batch request for property histories is 50" in body(info.value)["message"]


def test_batch_update_unknown_id_is_207_and_known_ids_are_updated(hs: Any) -> None:
    rec = create(hs, email="u@example.com")
    res = hs.crm.contacts.batch_api.update(
        {
            "inputs": [
                {"id": rec.id, "properties": {"firstname": "U"}},
                {"id": "5", "properties": {"firstname": "V"}},
            ]
        }
    )
    assert [r.properties["firstname"] for r in res.results] == ["U"]
    assert res.errors[0].context == {"ids": ["5"]}


def test_batch_update_invalid_option_refuses_whole_batch(hs: Any) -> None:
    a = create(hs, email="a1@example.com")
    b = create(hs, email="b1@example.com")
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.update(
            {
                "inputs": [
                    {"id": a.id, "properties": {"hs_lead_status": "NEW"}},
                    {"id": b.id, "properties": {"hs_lead_status": "Nope"}},
                ]
            }
        )
    assert info.value.status == 400
    assert (
        hs.crm.contacts.basic_api.get_by_id(a.id, properties=["hs_lead_status"]).properties["hs_lead_status"]
        is None
    )


def test_batch_upsert_by_email_creates_and_updates(hs: Any) -> None:
    existing = create(hs, email="old@example.com")
    res = hs.crm.contacts.batch_api.upsert(
        {
            "inputs": [
                {"id": "old@example.com", "idProperty": "email", "properties": {"firstname": "Old"}},
                {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "New"}},
            ]
        }
    )
    by_email = {r.properties["email"]: r for r in res.results}
    assert by_email["old@example.com"].id == existing.id and by_email["old@example.com"].new is False
    assert by_email["new@example.com"].new is True


def test_batch_archive_is_204(hs: Any) -> None:
    rec = create(hs, email="ba@example.com")
    assert hs.crm.contacts.batch_api.archive({"inputs": [{"id": rec.id}]}) is None
    with pytest.raises(NotFoundException):
        hs.crm.contacts.basic_api.get_by_id(rec.id)


def test_properties_with_history_lists_changes_newest_first(hs: Any) -> None:
    rec = create(hs, email="h@example.com", hs_lead_status="NEW")
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"hs_lead_status": "OPEN"}})
    got = hs.crm.contacts.basic_api.get_by_id(rec.id, properties_with_history=["hs_lead_status"])
    assert [h.value for h in got.properties_with_history["hs_lead_status"]] == ["OPEN", "NEW"]


def test_merge_keeps_survivor_and_old_id_reads_survivor(hs: Any) -> None:
    a = create(hs, email="keep@example.com")
    b = create(hs, email="merge@example.com", firstname="Moved")
    merged = hs.crm.contacts.basic_api.merge({"primaryObjectId": a.id, "objectIdToMerge": b.id})
    assert merged.id == a.id
    got = hs.crm.contacts.basic_api.get_by_id(b.id, properties=["hs_merged_object_ids", "firstname"])
    assert got.id == a.id
    assert got.properties["hs_merged_object_ids"] == b.id
    assert got.properties["firstname"] == "Moved"


def test_writes_by_a_non_unique_id_property_are_400(hs: Any) -> None:
    rec = create(hs, email="nu@example.com")
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.update(
            {"inputs": [{"id": rec.id, "idProperty": "hs_object_id", "properties": {"firstname": "X"}}]}
        )
    assert info.value.status == 400
    assert body(info.value)["message"] == (
        "Unable to perform update/upsert by non-unique 0-1 property hs_object_id in portal ID 12345678"
    )
