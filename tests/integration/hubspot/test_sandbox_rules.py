"""Properties, lifecycle, search, limits, OAuth, associations and faults, through the real client."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hubspot.crm.contacts.exceptions import ApiException, ServiceException, UnauthorizedException

from sandbox.hubspot.limits import RateLimitTier
from sandbox.hubspot.seed import seed_contacts
from sandbox.hubspot.server import HubSpotSandbox

pytestmark = pytest.mark.integration


def body(exc: Any) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def create(hs: Any, **props: str) -> Any:
    return hs.crm.contacts.basic_api.create({"properties": props})


def stage(hs: Any, cid: str) -> str | None:
    value = hs.crm.contacts.basic_api.get_by_id(cid, properties=["lifecyclestage"]).properties[
        "lifecyclestage"
    ]
    return None if value is None else str(value)


# ------------------------------------------------------------------------------ properties
def test_default_options_of_lifecycle_and_lead_status(hs: Any) -> None:
    lc = hs.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    assert [o.value for o in lc.options] == [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    ]
    ls = hs.crm.properties.core_api.get_by_name("contacts", "hs_lead_status")
    assert [o.value for o in ls.options] == [
        "NEW",
        "OPEN",
        "IN_PROGRESS",
        "OPEN_DEAL",
        "UNQUALIFIED",
        "ATTEMPTED_TO_CONTACT",
        "CONNECTED",
        "BAD_TIMING",
    ]
    names = {p.name for p in hs.crm.properties.core_api.get_all("contacts").results}
    assert {"salesforce_lead_id", "salesforce_contact_id", "unqualified_reason"} <= names


def test_invalid_option_is_400_validation_error_with_invalid_option_detail(hs: Any) -> None:
    rec = create(hs, email="o@example.com")
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.update(rec.id, {"properties": {"unqualified_reason": "Too Busy"}})
    doc = body(info.value)
    assert info.value.status == 400 and doc["category"] == "VALIDATION_ERROR"
    assert doc["message"].startswith("Property values were not valid: ")
    detail = json.loads(doc["message"].removeprefix("Property values were not valid: "))
    assert detail[0]["error"] == "INVALID_OPTION" and detail[0]["name"] == "unqualified_reason"
    assert "Too Busy was not one of the allowed options: [Not Ready, Not a Fit" in detail[0]["message"]


def test_option_with_surrounding_whitespace_is_rejected(hs: Any) -> None:
    rec = create(hs, email="w@example.com")
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.update(rec.id, {"properties": {"hs_lead_status": " NEW"}})
    assert info.value.status == 400


def test_unknown_and_read_only_properties_are_rejected(hs: Any) -> None:
    rec = create(hs, email="r@example.com")
    for props, code in (({"nope": "1"}, "PROPERTY_DOESNT_EXIST"), ({"createdate": "1"}, "READ_ONLY_VALUE")):
        with pytest.raises(ApiException) as info:
            hs.crm.contacts.basic_api.update(rec.id, {"properties": props})
        doc = body(info.value)
        assert doc["category"] == "VALIDATION_ERROR" and "errors" not in doc  # the problems sit in message
        problems = json.loads(doc["message"].removeprefix("Property values were not valid: "))
        assert [(p["name"], p["error"]) for p in problems] == [(next(iter(props)), code)]


def test_custom_option_added_through_properties_api_becomes_valid(hs: Any) -> None:
    lc = hs.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    options = [{"label": o.label, "value": o.value, "displayOrder": o.display_order} for o in lc.options]
    options.append({"label": "Partner", "value": "1234567", "displayOrder": 8})
    hs.crm.properties.core_api.update("contacts", "lifecyclestage", {"options": options})
    rec = create(hs, email="p@example.com", lifecyclestage="1234567")
    assert stage(hs, rec.id) == "1234567"


# ------------------------------------------------------------------------------ lifecycle
def test_backward_move_is_silently_ignored_by_default(hs: Any) -> None:
    rec = create(hs, email="l@example.com", lifecyclestage="customer")
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"lifecyclestage": "lead"}})
    assert stage(hs, rec.id) == "customer"


def test_clear_then_set_in_two_requests_moves_backward(hs: Any) -> None:
    rec = create(hs, email="l2@example.com", lifecyclestage="customer")
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"lifecyclestage": ""}})
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"lifecyclestage": "lead"}})
    assert stage(hs, rec.id) == "lead"
    got = hs.crm.contacts.basic_api.get_by_id(rec.id, properties=["hs_v2_date_entered_lead"])
    assert got.properties["hs_v2_date_entered_lead"] is not None


def test_backward_move_reject_mode_is_400(hs: Any, sandbox: HubSpotSandbox) -> None:
    sandbox.configure(lifecycle_mode="reject")
    rec = create(hs, email="l3@example.com", lifecyclestage="opportunity")
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.update(rec.id, {"properties": {"lifecyclestage": "lead"}})
    assert info.value.status == 400
    assert stage(hs, rec.id) == "opportunity"


def test_backward_move_allow_mode_applies(hs: Any, sandbox: HubSpotSandbox) -> None:
    sandbox.configure(lifecycle_mode="allow")
    rec = create(hs, email="l4@example.com", lifecyclestage="opportunity")
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"lifecyclestage": "lead"}})
    assert stage(hs, rec.id) == "lead"


# ------------------------------------------------------------------------------ search
def search(hs: Any, **req: Any) -> Any:
    return hs.crm.contacts.search_api.do_search(req)


@pytest.mark.usefixtures("exact_index")
def test_search_operators_groups_and_sorts(hs: Any) -> None:
    for i, (st, ls) in enumerate([("lead", "NEW"), ("customer", "OPEN"), ("lead", "OPEN"), ("other", "NEW")]):
        create(hs, email=f"s{i}@example.com", lifecyclestage=st, hs_lead_status=ls, firstname=f"N{i}")
    res = search(
        hs,
        filterGroups=[
            {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]},
            {"filters": [{"propertyName": "hs_lead_status", "operator": "IN", "values": ["NEW"]}]},
        ],
        sorts=[{"propertyName": "firstname", "direction": "DESCENDING"}],
        properties=["firstname"],
    )
    assert [r.properties["firstname"] for r in res.results] == ["N3", "N2", "N0"]
    assert res.total == 3
    res = search(
        hs,
        filterGroups=[
            {
                "filters": [
                    {"propertyName": "lifecyclestage", "operator": "NEQ", "value": "lead"},
                    {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "s*"},
                    {"propertyName": "jobtitle", "operator": "NOT_HAS_PROPERTY"},
                ]
            }
        ],
    )
    assert res.total == 2


def test_search_limit_above_200_is_400(hs: Any) -> None:
    with pytest.raises(ApiException) as info:
        search(hs, limit=201)
    assert info.value.status == 400


def test_search_filter_count_limits(hs: Any) -> None:
    f = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    for groups in (
        [{"filters": [f]} for _ in range(6)],
        [{"filters": [f] * 11}],
        [{"filters": [f] * 9} for _ in range(3)],
    ):
        with pytest.raises(ApiException) as info:
            search(hs, filterGroups=groups)
        assert info.value.status == 400 and body(info.value)["category"] == "VALIDATION_ERROR"
    assert search(hs, filterGroups=[{"filters": [f] * 5} for _ in range(5)]).total == 0


@pytest.mark.usefixtures("exact_index")
def test_search_pages_past_10000_are_400(hs: Any, sandbox: HubSpotSandbox) -> None:
    with sandbox.backend.lock:
        seed_contacts(sandbox.portal, 10_050)
    page = search(hs, limit=200, after="9800")
    assert len(page.results) == 200 and page.total == 10_050
    assert page.paging.next.after == "10000"  # HubSpot still offers the page past the ceiling
    with pytest.raises(ApiException) as info:
        search(hs, limit=200, after=page.paging.next.after)
    doc = body(info.value)
    assert info.value.status == 400 and doc["message"] == "There was a problem with the request."
    assert "category" not in doc


@pytest.mark.usefixtures("exact_index")
def test_search_page_straddling_10000_stops_at_the_10000th_result(hs: Any, sandbox: HubSpotSandbox) -> None:
    with sandbox.backend.lock:
        seed_contacts(sandbox.portal, 10_150)
    page = search(hs, limit=200, after="9900")
    assert len(page.results) == 100 and page.total == 10_150
    with pytest.raises(ApiException) as info:
        search(hs, limit=200, after=page.paging.next.after)
    assert info.value.status == 400


def test_batch_update_naming_one_id_twice_is_refused_whole(hs: Any) -> None:
    cid = create(hs, email="x@example.com").id
    other = create(hs, email="y@example.com").id
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.update(
            {
                "inputs": [
                    {"id": cid, "properties": {"firstname": "A"}},
                    {"id": other, "properties": {"firstname": "C"}},
                    {"id": cid, "properties": {"firstname": "B"}},
                ]
            }
        )
    doc = body(info.value)
    assert info.value.status == 400 and doc["category"] == "VALIDATION_ERROR"
    assert doc["message"] == f"Duplicate IDs found in batch input: [{cid}]. IDs must be unique"
    assert doc["context"] == {"ids": [cid]}
    firstnames = [
        hs.crm.contacts.basic_api.get_by_id(i, properties=["firstname"]).properties["firstname"]
        for i in (cid, other)
    ]
    assert firstnames == [None, None]


def test_batch_upsert_naming_one_email_twice_in_two_cases_is_refused_whole(
    hs: Any, sandbox: HubSpotSandbox
) -> None:
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.batch_api.upsert(
            {
                "inputs": [
                    {"id": "Twin@Example.com", "idProperty": "email", "properties": {"firstname": "A"}},
                    {"id": "twin@example.com", "idProperty": "email", "properties": {"firstname": "B"}},
                ]
            }
        )
    doc = body(info.value)
    assert info.value.status == 400 and doc["context"] == {"ids": ["twin@example.com"]}
    assert doc["message"].startswith("Duplicate IDs found in batch input")
    assert len(sandbox.portal.stores["contacts"].records) == 0


def test_search_index_lag_hides_fresh_changes(hs: Any, sandbox: HubSpotSandbox) -> None:
    sandbox.configure(index_lag_ms=400)
    rec = create(hs, email="lag@example.com")
    flt = [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "lag@example.com"}]}]
    assert search(hs, filterGroups=flt).total == 0
    time.sleep(0.5)
    assert [r.id for r in search(hs, filterGroups=flt).results] == [rec.id]


def test_the_search_index_never_goes_back_to_an_older_version(hs: Any, sandbox: HubSpotSandbox) -> None:
    """A version queued behind the lag and due, but not yet applied when a newer version is shown at
    once, must not replace that newer version when it is applied (it did: the poller then never saw
    the edit, tests/faults/test_late_changes_are_caught_by_the_lookback.py)."""
    sandbox.configure(index_lag_ms=300)
    rec = create(hs, email="older@example.com", phone="+1 555 0100")
    time.sleep(0.4)  # the create's version is due; no search has applied it yet
    sandbox.configure(index_lag_ms=0)
    hs.crm.contacts.basic_api.update(rec.id, {"properties": {"phone": "+1 555 0111"}})
    flt = [{"filters": [{"propertyName": "phone", "operator": "EQ", "value": "+1 555 0111"}]}]
    assert [r.id for r in search(hs, filterGroups=flt, properties=["phone"]).results] == [rec.id]
    time.sleep(0.4)
    found = search(hs, filterGroups=flt, properties=["phone", "lastmodifieddate"]).results
    assert [(r.id, r.properties["phone"]) for r in found] == [(rec.id, "+1 555 0111")]


def test_search_rate_limit_is_429_secondly(hs: Any, sandbox: HubSpotSandbox) -> None:
    sandbox.configure(tier=RateLimitTier(per_ten_seconds=None, daily=None, search_per_second=5))
    for _ in range(5):
        search(hs)
    with pytest.raises(ApiException) as info:
        search(hs)
    assert info.value.status == 429
    doc = body(info.value)
    assert doc["errorType"] == "RATE_LIMIT" and "category" not in doc
    assert info.value.headers["Retry-After"] == "1"


# ------------------------------------------------------------------------------ rate limits
def test_rate_limit_headers_and_ten_secondly_429(sandbox: HubSpotSandbox) -> None:
    from urllib3.util.retry import Retry

    sandbox.configure(tier=RateLimitTier(per_ten_seconds=3, daily=1000, search_per_second=None))
    # urllib3's default Retry honours Retry-After on a GET 429 by sleeping; switch it off to see the 429.
    api = sandbox.client(retry=Retry(total=0, respect_retry_after_header=False)).crm.contacts.basic_api
    _, status, headers = api.get_page_with_http_info()
    assert status == 200
    assert headers["X-HubSpot-RateLimit-Max"] == "3"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "2"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "999"
    api.get_page()
    api.get_page()
    with pytest.raises(ApiException) as info:
        api.get_page()
    doc = body(info.value)
    assert info.value.status == 429
    assert doc["policyName"] == "TEN_SECONDLY_ROLLING"
    assert doc["message"] == "You have reached your ten_secondly_rolling limit."
    assert int(info.value.headers["Retry-After"]) >= 1


def test_daily_limit_429(sandbox: HubSpotSandbox) -> None:
    from urllib3.util.retry import Retry

    sandbox.configure(tier=RateLimitTier(per_ten_seconds=None, daily=1, search_per_second=None))
    hs = sandbox.client(retry=Retry(total=0, respect_retry_after_header=False))
    hs.crm.contacts.basic_api.get_page()
    with pytest.raises(ApiException) as info:
        hs.crm.contacts.basic_api.get_page()
    assert body(info.value)["policyName"] == "DAILY"


# ------------------------------------------------------------------------------ OAuth
def test_oauth_token_expires_with_expired_authentication_and_refresh_works(sandbox: HubSpotSandbox) -> None:
    access, refresh = sandbox.issue_oauth_tokens(ttl_s=60)
    client = sandbox.client(access_token=access)
    client.crm.contacts.basic_api.get_page()
    sandbox.advance_clock(61_000)
    with pytest.raises(UnauthorizedException) as info:
        client.crm.contacts.basic_api.get_page()
    doc = body(info.value)
    assert doc["category"] == "EXPIRED_AUTHENTICATION"
    assert doc["message"] == "The OAuth token used to make this call expired 1 second(s) ago."
    assert "expire time" in doc["context"]
    tokens = client.oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id="sandbox-client-id",
        client_secret="sandbox-client-secret",
        refresh_token=refresh,
    )
    assert tokens.expires_in == 1800 and tokens.token_type == "bearer"
    _, _, headers = sandbox.client(
        access_token=tokens.access_token
    ).crm.contacts.basic_api.get_page_with_http_info()
    assert "X-HubSpot-RateLimit-Daily" not in headers  # no daily headers for OAuth calls [A]


def test_oauth_bad_refresh_token_is_400(sandbox: HubSpotSandbox) -> None:
    from hubspot.oauth.exceptions import ApiException as OAuthApiException

    with pytest.raises(OAuthApiException) as info:
        sandbox.client().oauth.tokens_api.create(
            grant_type="refresh_token",
            client_id="sandbox-client-id",
            client_secret="sandbox-client-secret",
            refresh_token="nope",
        )
    assert info.value.status == 400 and body(info.value)["status"] == "BAD_REFRESH_TOKEN"


# ------------------------------------------------------------------------------ associations, objects
def test_companies_deals_and_associations_v4(hs: Any) -> None:
    contact = create(hs, email="a@corp.example.com")
    company = hs.crm.companies.basic_api.create({"properties": {"name": "Corp", "domain": "corp.example"}})
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "Big", "dealstage": "qualifiedtobuy"}})
    hs.crm.associations.v4.basic_api.create_default("contacts", contact.id, "companies", company.id)
    hs.crm.associations.v4.basic_api.create(
        "contacts",
        contact.id,
        "deals",
        deal.id,
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}],
    )
    page = hs.crm.associations.v4.basic_api.get_page("companies", company.id, "contacts")
    assert [int(r.to_object_id) for r in page.results] == [int(contact.id)]
    got = hs.crm.contacts.basic_api.get_by_id(contact.id, associations=["companies", "deals"])
    assert got.associations["companies"].results[0].id == company.id
    assert got.associations["deals"].results[0].id == deal.id
    hs.crm.associations.v4.basic_api.archive("contacts", contact.id, "companies", company.id)
    assert hs.crm.associations.v4.basic_api.get_page("contacts", contact.id, "companies").results == []


def test_deals_by_type_id_path(hs: Any, sandbox: HubSpotSandbox) -> None:
    import requests

    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "Typed"}})
    r = requests.get(
        f"{sandbox.base_url}/crm/v3/objects/0-3/{deal.id}",
        headers={"Authorization": f"Bearer {sandbox.token}"},
    )
    assert r.status_code == 200 and r.json()["id"] == deal.id


# ------------------------------------------------------------------------------ faults
def test_fault_5xx_then_recovers(hs: Any, sandbox: HubSpotSandbox) -> None:
    sandbox.arm_fault(status=503, count=1)
    with pytest.raises(ServiceException):
        hs.crm.contacts.basic_api.get_page()
    assert hs.crm.contacts.basic_api.get_page().results == []


def test_fault_dropped_connection_surfaces_as_transport_error(sandbox: HubSpotSandbox) -> None:
    import urllib3
    from urllib3.util.retry import Retry

    hs = sandbox.client(retry=Retry(total=0))  # the default Retry would silently re-send the GET
    sandbox.arm_fault(drop=True, count=1)
    with pytest.raises((urllib3.exceptions.HTTPError, ApiException)):
        hs.crm.contacts.basic_api.get_page()
    assert hs.crm.contacts.basic_api.get_page().results == []


def test_v4_batch_create_read_and_archive(hs: Any) -> None:
    contacts = [create(hs, email=f"v4-{i}@example.com") for i in range(3)]
    company = hs.crm.companies.basic_api.create({"properties": {"name": "V4"}})
    v4 = hs.crm.associations.v4.batch_api
    v4.create(
        "contacts",
        "companies",
        {
            "inputs": [
                {
                    "from": {"id": c.id},
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
                for c in contacts
            ]
        },
    )
    page = v4.get_page("companies", "contacts", {"inputs": [{"id": company.id}]})
    assert sorted(str(t.to_object_id) for t in page.results[0].to) == sorted(c.id for c in contacts)
    v4.archive(
        "contacts", "companies", {"inputs": [{"from": {"id": contacts[0].id}, "to": [{"id": company.id}]}]}
    )
    page = v4.get_page("companies", "contacts", {"inputs": [{"id": company.id}]})
    assert len(page.results[0].to) == 2


def test_gdpr_delete_is_permanent(hs: Any) -> None:
    rec = create(hs, email="gdpr@example.com")
    assert hs.crm.contacts.basic_api.purge({"objectId": "gdpr@example.com", "idProperty": "email"}) is None
    for archived in (False, True):
        with pytest.raises(ApiException) as info:
            hs.crm.contacts.basic_api.get_by_id(rec.id, archived=archived)
        assert info.value.status == 404


def test_ten_second_limit_is_counted_per_app(sandbox: HubSpotSandbox) -> None:
    from urllib3.util.retry import Retry

    sandbox.configure(tier=RateLimitTier(per_ten_seconds=2, daily=None, search_per_second=None))
    with sandbox.backend.lock:
        sandbox.backend.auth.private_tokens["pat-na1-other-app"] = (sandbox.portal.id, 4242)
    no_retry = Retry(total=0, respect_retry_after_header=False)
    mine = sandbox.client(retry=no_retry).crm.contacts.basic_api
    other = sandbox.client(access_token="pat-na1-other-app", retry=no_retry).crm.contacts.basic_api
    mine.get_page()
    mine.get_page()
    with pytest.raises(ApiException):
        mine.get_page()
    other.get_page()  # a different app has its own 10-second window [A, DOCS-USAGE "per app"]
