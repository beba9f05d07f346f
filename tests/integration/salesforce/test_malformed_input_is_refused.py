"""Malformed input gets a 4xx answer as Salesforce gives it, never a 500, and never breaks later calls
(issue 12 item 9, Salesforce part). Raw requests where simple-salesforce cannot send the input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.errors import FatalError

pytestmark = pytest.mark.integration


def _control(sandbox: SalesforceSandbox, method: str, path: str, **kwargs: object) -> requests.Response:
    return sandbox.session().request(method, f"{sandbox.instance_url}/_sandbox/{path}", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "path": "(", "error_code": "UNABLE_TO_LOCK_ROW"},
        {"kind": "error", "path": "query", "error_code": "NOPE"},
        {"kind": "slow", "delay": "soon"},
        {"kind": "slow", "delay": 10**9},
        {"kind": "drop", "times": "2"},
        {"kind": "drop", "times": 0},
        {"kind": "lock_records", "record_ids": "00Q000000000001"},
        {"kind": "teleport"},
        {"path": "query"},
        {"kind": "drop", "colour": "red"},
        ["kind", "drop"],
    ],
)
def test_a_fault_that_could_not_run_is_refused_and_later_calls_still_work(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, fault: object
) -> None:
    answer = _control(sf_sandbox, "POST", "faults", json=fault)
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "BAD_CONTROL_REQUEST"
    assert sf_sandbox.org.faults == []
    assert sf_client.query("SELECT Id FROM Lead")["totalSize"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("settings", {"api_max": "lots"}),
        ("settings", {"duplicate_rule": "sometimes"}),
        ("settings", {"session_seconds": -5}),
        ("settings", {"latest_api_version": 20.0}),
        ("settings", {"no_such_setting": 1}),
        ("settings", [1, 2]),
        ("seed", {"count": "ten"}),
        ("seed", {"count": 10**12}),
        ("late_commit", {"object": "Lead"}),
        ("late_commit", {"object": "Lead", "id": "x", "seconds_ago": "a while"}),
    ],
)
def test_bad_control_bodies_are_400_and_change_nothing(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, path: str, body: object
) -> None:
    before = _control(sf_sandbox, "GET", "settings").json()
    answer = _control(sf_sandbox, "POST", path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()[0]["errorCode"] == "BAD_CONTROL_REQUEST"
    assert _control(sf_sandbox, "GET", "settings").json() == before
    assert sf_client.query("SELECT Id FROM Lead")["totalSize"] == 0


def test_a_valid_fault_still_works(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    answer = _control(
        sf_sandbox,
        "POST",
        "faults",
        json={"kind": "error", "path": r"/query/?$", "error_code": "UNKNOWN_EXCEPTION"},
    )
    assert answer.status_code == 201
    with pytest.raises(SalesforceError) as info:
        sf_client.query("SELECT Id FROM Lead")
    assert info.value.status == 500  # the injected one
    assert sf_client.query("SELECT Id FROM Lead")["totalSize"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/services/data/"),
        ("GET", "/services/data/v59.0/query?q=SELECT+Id+FROM+Lead"),
        ("POST", "/services/oauth2/token"),
        ("POST", "/services/Soap/u/59.0"),
        ("GET", "/_sandbox/settings"),
        ("GET", "/nowhere"),
    ],
)
def test_a_header_byte_that_is_not_utf8_is_no_server_error(
    sf_sandbox: SalesforceSandbox, method: str, path: str
) -> None:
    answer = sf_sandbox.session().request(
        method,
        sf_sandbox.instance_url + path,
        headers={"Authorization": b"Bearer \xb2\xff", "X-Odd": b"\xb2"},
    )
    assert answer.status_code < 500 or path.startswith("/services/Soap")
    if path.startswith("/services/data/v59.0"):
        assert answer.status_code == 401 and answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    if path.startswith("/services/Soap"):  # SOAP faults are HTTP 500 by design: an unparsable envelope
        assert b"INVALID_REQUEST" in answer.content or b"faultcode" in answer.content


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        (b"grant_type=client_credentials&client_id=\xff\xfe&client_secret=x", {}, "invalid_client_id"),
        (b"grant_type=client_credentials", {"Authorization": "Basic %%%not-base64"}, "invalid_client_id"),
        (b"grant_type=client_credentials", {"Authorization": "Basic " + "/w=="}, "invalid_client_id"),
        (b"\xff\xfe\x00", {}, "unsupported_grant_type"),
        (b"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c", {}, "invalid_grant"),
        (b"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer", {}, "invalid_grant"),
    ],
)
def test_bad_oauth_bodies_are_oauth_errors(
    sf_sandbox: SalesforceSandbox, body: bytes, headers: dict[str, str], error: str
) -> None:
    answer = sf_sandbox.session().post(
        f"{sf_sandbox.instance_url}/services/oauth2/token",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == error


@pytest.mark.parametrize(
    "literal", ["LAST_N_DAYS:99999999", "N_DAYS_AGO:2147483647", "NEXT_N_DAYS:999999999"]
)
def test_huge_date_literals_cover_the_storable_dates(
    sf_client: Salesforce, make_lead: object, literal: str
) -> None:
    make_lead()  # type: ignore[operator]
    result = sf_client.query(f"SELECT Id FROM Lead WHERE CreatedDate = {literal}")
    assert result["totalSize"] == (1 if literal.startswith("LAST") else 0)


def test_a_date_literal_beyond_an_int_is_malformed(sf_client: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.query("SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:" + "9" * 5000)
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_a_query_url_over_16kb_is_414(sf_client: Salesforce) -> None:
    where = "(" * 5000 + "LastName = 'x'" + ")" * 5000
    with pytest.raises(SalesforceError) as info:
        sf_client.query(f"SELECT Id FROM Lead WHERE {where}")
    assert info.value.status == 414


def test_deep_nesting_under_the_url_limit_is_query_too_complicated(sf_client: Salesforce) -> None:
    where = "(" * 1000 + "LastName = 'x'" + ")" * 1000
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.query(f"SELECT Id FROM Lead WHERE {where}")
    assert info.value.content[0]["errorCode"] == "QUERY_TOO_COMPLICATED"
    nots = "NOT " * 1000 + "LastName = 'x'"
    with pytest.raises(SalesforceMalformedRequest):
        sf_client.query(f"SELECT Id FROM Lead WHERE {nots}")
    assert sf_client.query("SELECT Id FROM Lead WHERE ((LastName = 'x'))")["totalSize"] == 0


def test_a_bulk_query_job_with_5000_nested_parentheses_is_refused(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    where = "(" * 5000 + "LastName = 'x'" + ")" * 5000
    answer = sf_sandbox.session().post(
        f"{sf_client.base_url}jobs/query",
        json={"operation": "query", "query": f"SELECT Id FROM Lead WHERE {where}"},
        headers={"Authorization": f"Bearer {sf_client.session_id}"},
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "QUERY_TOO_COMPLICATED"


def test_deeply_nested_json_is_a_parser_error(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    answer = sf_sandbox.session().post(
        f"{sf_client.base_url}sobjects/Lead/",
        data=b"[" * 100_000 + b"]" * 100_000,
        headers={"Authorization": f"Bearer {sf_client.session_id}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_reads_by_id_split_so_no_url_passes_16kb(
    sf_sandbox: SalesforceSandbox, sf_settings: Callable[..., SalesforceSettings]
) -> None:
    org = sf_sandbox.org
    ids = [org.create("Lead", {"LastName": f"L{i}", "Company": "C"}, org.admin_id) for i in range(800)]
    adapter = SalesforceAdapter(sf_settings(id_chunk_size=800))  # 800 ids would make a ~22 KB URL
    got = adapter.read_by_ids("Lead", ids, ["LastName"])
    assert sorted(r["Id"] for r in got) == sorted(ids)
    facts = adapter.related_facts("Lead", ids)
    assert len(facts.records) == 800
    assert adapter.calls == 1 + 2 + 2  # token, then each read in two fitting halves


def test_the_adapter_refuses_a_query_too_long_for_a_url_before_sending(
    sf_settings: Callable[..., SalesforceSettings],
) -> None:
    adapter = SalesforceAdapter(sf_settings())
    with pytest.raises(FatalError) as info:
        list(adapter.query("SELECT Id FROM Lead WHERE " + " OR ".join(["LastName = 'x'"] * 1500)))
    assert info.value.code == "URI_TOO_LONG"
    assert adapter.calls == 0
