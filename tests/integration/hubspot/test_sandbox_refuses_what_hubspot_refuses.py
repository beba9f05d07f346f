"""Writes HubSpot refuses or ignores, through the real hubspot-api-client (issue 9 items 1-4, 10; 12.9)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.deals.exceptions import ApiException as DealsApiException

from sandbox.hubspot.models import DEFAULT_APP_ID, DEFAULT_DEVELOPER_KEY
from sandbox.hubspot.server import HubSpotSandbox

pytestmark = pytest.mark.integration


def body(exc: Any) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def problems(exc: Any) -> list[dict[str, Any]]:
    doc = body(exc)
    prefix = "Property values were not valid: "
    assert doc["message"].startswith(prefix)
    return list(json.loads(doc["message"][len(prefix) :]))


def first_name(hs: Any, cid: str) -> str | None:
    value = hs.crm.contacts.basic_api.get_by_id(cid, properties=["firstname"]).properties["firstname"]
    return None if value is None else str(value)


# ---------------------------------------------------------------- 1. null does not clear, "" does
def test_null_in_an_update_keeps_the_old_value_and_empty_string_clears(hs: Any) -> None:
    cid = hs.crm.contacts.basic_api.create({"properties": {"email": "n@example.com", "firstname": "Ada"}}).id
    hs.crm.contacts.basic_api.update(cid, {"properties": {"firstname": None, "lastname": "L"}})
    assert first_name(hs, cid) == "Ada"
    hs.crm.contacts.batch_api.update({"inputs": [{"id": cid, "properties": {"firstname": None}}]})
    assert first_name(hs, cid) == "Ada"
    hs.crm.contacts.basic_api.update(cid, {"properties": {"firstname": ""}})
    assert first_name(hs, cid) is None


# ---------------------------------------------------------------- 2. email validation
@pytest.mark.parametrize("bad", ["x@", "a@b", "jane@example", "jane@ymail.con", "@example.com", "j a@x.com"])
def test_malformed_email_is_a_400_invalid_email_with_the_value_in_the_message(hs: Any, bad: str) -> None:
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.create({"properties": {"email": bad}})
    assert info.value.status == 400
    doc = body(info.value)
    assert doc["category"] == "VALIDATION_ERROR" and "errors" not in doc
    assert problems(info.value) == [
        {
            "isValid": False,
            "message": f"Email address {bad} is invalid",
            "error": "INVALID_EMAIL",
            "name": "email",
        }
    ]


def test_well_formed_emails_on_real_domains_are_accepted(hs: Any) -> None:
    for ok in ("jane@example.com", "j.o+tag@mail.example.co.uk", "x@sub.domain.io"):
        hs.crm.contacts.basic_api.create({"properties": {"email": ok}})


def test_one_bad_email_refuses_the_whole_batch_upsert(hs: Any, sandbox: HubSpotSandbox) -> None:
    inputs = [
        {"id": f"u{i}@example.com", "idProperty": "email", "properties": {"email": f"u{i}@example.com"}}
        for i in range(5)
    ]
    inputs[2] = {"id": "x@", "idProperty": "email", "properties": {"email": "x@"}}
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.upsert({"inputs": inputs})
    assert info.value.status == 400 and problems(info.value)[0]["error"] == "INVALID_EMAIL"
    assert not sandbox.portal.stores["contacts"].records  # nothing of the batch was written


# ---------------------------------------------------------------- 3. empty writes
def test_patch_with_no_properties_is_refused(hs: Any) -> None:
    cid = hs.crm.contacts.basic_api.create({"properties": {"email": "e@example.com"}}).id
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.update(cid, {"properties": {}})
    doc = body(info.value)
    assert info.value.status == 400 and doc["category"] == "VALIDATION_ERROR"
    assert doc["message"] == "No properties found to update, please provide at least one."
    assert doc["context"] == {"properties": ["{}"]}


def test_create_and_batch_update_without_properties_are_refused(hs: Any) -> None:
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.create({"properties": {}})
    assert info.value.status == 400
    cid = hs.crm.contacts.basic_api.create({"properties": {"email": "b@example.com"}}).id
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.update({"inputs": [{"id": cid, "properties": {}}]})
    assert info.value.status == 400


# ---------------------------------------------------------------- 4. other lenient inputs
def test_unknown_association_type_ids_and_malformed_ids_are_400(hs: Any, sandbox: HubSpotSandbox) -> None:
    contact = hs.crm.contacts.basic_api.create({"properties": {"email": "c@example.com"}}).id
    company = hs.crm.companies.basic_api.create({"properties": {"name": "Acme"}}).id
    base = f"{sandbox.base_url}/crm/v4/objects/contacts/{contact}/associations/companies/{company}"
    auth = {"Authorization": f"Bearer {sandbox.token}"}
    bad_type = httpx.put(
        base, headers=auth, json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 9999}]
    )
    assert bad_type.status_code == 400 and bad_type.json()["category"] == "VALIDATION_ERROR"
    bad_id = httpx.put(
        f"{sandbox.base_url}/crm/v4/objects/contacts/abc/associations/companies/{company}",
        headers=auth,
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
    )
    assert bad_id.status_code == 400
    wrong_shape = httpx.post(
        f"{sandbox.base_url}/crm/v4/associations/contacts/companies/batch/read",
        headers=auth,
        json={"inputs": [{"id": {"nested": True}}]},
    )
    assert wrong_shape.status_code == 400
    assert sandbox.portal.associated("contacts", int(contact), "companies") == []


def test_webhook_target_must_be_https_and_event_types_must_exist(sandbox: HubSpotSandbox) -> None:
    url = f"{sandbox.base_url}/webhooks/v3/{DEFAULT_APP_ID}"
    key = {"hapikey": DEFAULT_DEVELOPER_KEY}
    plain = httpx.put(f"{url}/settings", params=key, json={"targetUrl": "http://hooks.example.com/in"})
    assert plain.status_code == 400
    assert httpx.put(
        f"{url}/settings", params=key, json={"targetUrl": "https://hooks.example.com/in"}
    ).is_success
    unknown = httpx.post(f"{url}/subscriptions", params=key, json={"eventType": "contact.teleported"})
    assert unknown.status_code == 400
    no_prop = httpx.post(f"{url}/subscriptions", params=key, json={"eventType": "contact.propertyChange"})
    assert no_prop.status_code == 400
    ok = httpx.post(
        f"{url}/subscriptions",
        params=key,
        json={"eventType": "contact.propertyChange", "propertyName": "email"},
    )
    assert ok.status_code == 201


# ---------------------------------------------------------------- 12.9: the control surface and OAuth
@pytest.mark.parametrize(
    "fault",
    [
        {"path_prefix": 5, "status": 500},
        {"path_prefix": "/crm", "status": "500"},
        {"path_prefix": "/crm", "status": 9000},
        {"path_prefix": "/crm", "delay_ms": -1},
        {"path_prefix": "/crm"},
        {"path_prefix": "/crm", "status": 400, "body": "not an object"},
        {"path_prefix": "/crm", "status": 500, "regex": "("},
    ],
)
def test_a_malformed_fault_is_refused_and_later_calls_still_work(
    hs: Any, sandbox: HubSpotSandbox, fault: dict[str, Any]
) -> None:
    answer = httpx.post(f"{sandbox.base_url}/_sandbox/faults", json=fault)
    assert answer.status_code == 400 and "error" in answer.json()
    assert sandbox.backend.faults == []
    hs.crm.contacts.basic_api.create({"properties": {"email": "after@example.com"}})


@pytest.mark.parametrize(
    ("path", "doc"),
    [
        ("settings", {"index_lag_ms": "lots"}),
        ("settings", {"tier": "platinum"}),
        ("settings", {"nope": 1}),
        ("clock", {"advance_ms": "soon"}),
        ("seed", {"contacts": -5}),
        ("webhooks", {"retry_base_s": "fast"}),
        ("webhooks", {"subscriptions": [1, 2]}),
        ("oauth/tokens", {"ttl_s": "long"}),
    ],
)
def test_bad_control_input_is_a_400_and_changes_nothing(
    sandbox: HubSpotSandbox, path: str, doc: dict[str, Any]
) -> None:
    before = (sandbox.portal.settings.index_lag_ms, sandbox.portal.webhooks.retry_base_s)
    answer = httpx.post(f"{sandbox.base_url}/_sandbox/{path}", json=doc)
    assert answer.status_code == 400, answer.text
    assert (sandbox.portal.settings.index_lag_ms, sandbox.portal.webhooks.retry_base_s) == before
    assert httpx.post(f"{sandbox.base_url}/_sandbox/settings", content=b"[1,").status_code == 400


@pytest.mark.parametrize(
    "content",
    [
        b"grant_type=refresh_token",
        b"\xff\xfe",
        b"client_id=sandbox-client-id&client_secret=x&refresh_token=y",
    ],
)
def test_bad_oauth_bodies_are_400_not_500(sandbox: HubSpotSandbox, content: bytes) -> None:
    answer = httpx.post(
        f"{sandbox.base_url}/oauth/v1/token",
        content=content,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400 and answer.json()["status"] in ("BAD_CLIENT_ID", "error")


@pytest.mark.parametrize("bad", ["tomorrow", "2019-05-13T12:05:53.602759Z", "2024-13-01", "13/05/2019"])
def test_unparseable_dates_are_invalid_long(hs: Any, bad: str) -> None:
    with pytest.raises(DealsApiException) as info:
        hs.crm.deals.basic_api.create({"properties": {"dealname": "D", "closedate": bad}})
    assert info.value.status == 400
    assert problems(info.value) == [
        {
            "isValid": False,
            "message": f"{bad} was not a valid long.",
            "error": "INVALID_LONG",
            "name": "closedate",
        }
    ]


@pytest.mark.parametrize(
    "ok", ["1715600000000", "2024-05-13", "2024-05-13T12:05:53.602Z", "2024-05-13T12:05:53+02:00"]
)
def test_epoch_millis_and_iso_dates_are_accepted(hs: Any, ok: str) -> None:
    hs.crm.deals.basic_api.create({"properties": {"dealname": "D", "closedate": ok}})
