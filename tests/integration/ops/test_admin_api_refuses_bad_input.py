"""The admin API under hostile input, over real HTTP: hypothesis-built backfill scopes (any bytes, any
JSON, scope-shaped documents with hostile SOQL and filters), ids in paths, query parameters and forms
never make a 5xx; every refusal is a 4xx whose body names the problem, and a refused scope starts
nothing. Tokens are compared with ``hmac.compare_digest`` on every path that checks one (bearer header,
login form, session cookie)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests
from hypothesis import given
from hypothesis import strategies as st

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from tests.fuzzing import fuzz
from tests.integration.web.conftest import serve_in_thread
from worker.ops import page
from worker.ops.backfill import BackfillStore, parse_spec
from worker.web.app import create_app
from worker.web.settings import WebSettings

from .conftest import broker_of

pytestmark = pytest.mark.integration
TOKEN = "fuzz-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.fixture(scope="module")
def store(module_redis: redis.Redis) -> redis.Redis:
    return module_redis


@pytest.fixture(scope="module")
def base(
    _sf_server: SalesforceSandbox, _hs_server: HubSpotSandbox, store: redis.Redis, redis_url: str
) -> Iterator[str]:
    """The web app with the admin API, its runtime pointed at both sandboxes (a few people each)."""
    _sf_server.reset()
    _hs_server.reset()
    seed_org(_sf_server.org, 5)
    env = {
        "CRMSYNC_REDIS_URL": redis_url,
        "CRMSYNC_BROKER_URL": broker_of(redis_url),
        "CRMSYNC_MAP": str(MAPPINGS / "default.yaml"),
        "CRMSYNC_ADMIN_TOKEN": TOKEN,
        "CRMSYNC_SALESFORCE_AUTH_MODE": "client_credentials",
        "CRMSYNC_SALESFORCE_DOMAIN": "sandbox.my",
        "CRMSYNC_SALESFORCE_CONSUMER_KEY": "sandbox-consumer-key",
        "CRMSYNC_SALESFORCE_CONSUMER_SECRET": "sandbox-consumer-secret",
        "CRMSYNC_SALESFORCE_LOGIN_URL": _sf_server.instance_url,
        "CRMSYNC_SALESFORCE_CA_BUNDLE": str(_sf_server.ca_path),
        "CRMSYNC_HUBSPOT_BASE_URL": _hs_server.base_url,
        "CRMSYNC_HUBSPOT_ACCESS_TOKEN": _hs_server.token,
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        with serve_in_thread(create_app(WebSettings(), store)) as url:
            yield url


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def started(store: redis.Redis) -> int:
    return len(BackfillStore(store).ids(10_000))


def assert_refusal(answer: requests.Response, *codes: int) -> None:
    assert answer.status_code in codes, (answer.status_code, answer.text[:500])
    doc = answer.json()
    assert doc["error"] and doc["message"], doc


json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=12,
)
hostile_soql = st.lists(
    st.sampled_from(
        ["Email", "Id", "Status", "=", "!=", "'", "\\", "''", " OR ", " AND ", "(", ")", "%", "_", "{", "}",
         "{0}", "null", "'a@b.c'", "LIKE", "IN", ";", "--", "LIMIT 1", "x__c", "\x00", "\u2028"]
    )
    | st.text(max_size=6),
    min_size=1,
    max_size=12,
).map(" ".join)  # fmt: skip
hubspot_filter = st.fixed_dictionaries(
    {},
    optional={
        "propertyName": st.sampled_from(["email", "lifecyclestage", "nope"]) | json_leaf,
        "operator": st.sampled_from(["EQ", "GT", "IN", "HAS_PROPERTY", "LIKE", "BETWEEN"]) | json_leaf,
        "value": json_leaf,
        "values": st.lists(json_leaf, max_size=3) | json_leaf,
        "highValue": json_leaf,
    },
)
scope_like = st.fixed_dictionaries(
    {},
    optional={
        "crm": st.sampled_from(["salesforce", "hubspot", "both", "sap", ""]) | json_leaf,
        "object": st.sampled_from(["Lead", "Contact", "contacts", "Opportunity", "lead"]) | json_leaf,
        "since": st.sampled_from(
            ["2026-01-01", "2026-13-01", "2026-01-01T00:00:00+14:00", "yesterday", *OUT_OF_RANGE]
        )
        | json_leaf,
        "where": hostile_soql | json_leaf,
        "hubspot_filters": st.lists(hubspot_filter, max_size=7) | json_leaf,
        "dry_run": json_leaf,
        "chunk_size": st.integers(-5, 2000) | json_leaf,
        "extra": json_leaf,
    },
)


@fuzz(60)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_refused_or_started_never_a_500(
    base: str, http: requests.Session, store: redis.Redis, body: bytes
) -> None:
    before = started(store)
    answer = http.post(base + "/admin/backfills", data=body, headers=AUTH, timeout=30)
    if answer.status_code != 202:
        assert_refusal(answer, 400, 413, 422)
        assert started(store) == before


@fuzz(80)
@given(scope=scope_like)
def test_a_scope_shaped_document_is_refused_naming_the_problem_or_started(
    base: str, http: requests.Session, store: redis.Redis, scope: dict[str, Any]
) -> None:
    before = started(store)
    body = json.dumps(scope).encode()  # NaN and Infinity included, as a hostile client sends them
    answer = http.post(base + "/admin/backfills", data=body, headers=AUTH, timeout=30)
    if answer.status_code == 202:
        assert started(store) == before + 1
        return
    assert_refusal(answer, 422)
    assert started(store) == before
    assert answer.json()["message"].startswith(
        ("invalid backfill scope:", "salesforce refused", "hubspot refused")
    )


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        # balanced on its own, but it would escape the parentheses the walk wraps it in and change the
        # meaning of the walk's own conditions (`Id > last`, `SystemModstamp >= since`)
        ("Email != null) OR (Id != null", "unbalanced parentheses"),
        ("Email = 'a@b.c') OR (Email != null", "unbalanced parentheses"),
        ("(Email != null", "unbalanced parentheses"),
        ("Email = 'unterminated", "unterminated string"),
        ("Email = 'a' ; DELETE", "no ';'"),
    ],
)
def test_a_where_clause_that_would_change_the_walk_s_query_is_refused(
    base: str, http: requests.Session, store: redis.Redis, where: str, problem: str
) -> None:
    before = started(store)
    answer = http.post(base + "/admin/backfills", json={"object": "Lead", "where": where}, headers=AUTH)
    assert_refusal(answer, 422)
    assert problem in answer.json()["message"] and started(store) == before
    with pytest.raises(Exception, match=problem):
        parse_spec({"object": "Lead", "where": where})


@pytest.mark.parametrize("since", OUT_OF_RANGE)
@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_since_with_no_utc_time_is_422(
    base: str, http: requests.Session, store: redis.Redis, since: str, crm: str
) -> None:
    """Found by fuzzing: formatting it for SOQL raised OverflowError (a 500)."""
    before = started(store)
    answer = http.post(base + "/admin/backfills", json={"crm": crm, "since": since}, headers=AUTH)
    assert_refusal(answer, 422)
    assert "since: Value error, has no UTC time" in answer.json()["message"] and started(store) == before


def test_parentheses_and_quotes_inside_string_literals_are_fine() -> None:
    spec = parse_spec({"object": "Lead", "where": r"Email = 'o\'brien (x)@example.com' AND (Status != null)"})
    assert spec.where is not None


@fuzz(60)
@given(
    bid=st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s not in {".", ".."})
    | st.sampled_from(["backfill-000000000000:chunks", "x:chunks", "*", "..%2f..", "%00", "backfill-*"]),
    method=st.sampled_from(["GET", "DELETE"]),
)
def test_any_backfill_id_in_a_path_is_found_or_404(
    base: str, http: requests.Session, store: redis.Redis, bid: str, method: str
) -> None:
    answer = http.request(method, f"{base}/admin/backfills/{quote(bid, safe='')}", headers=AUTH, timeout=30)
    assert_refusal(answer, 404, 405)


def test_an_id_naming_another_key_of_a_backfill_is_404(
    base: str, http: requests.Session, store: redis.Redis
) -> None:
    """``{id}:chunks`` is the chunk hash of a real backfill: it must not be read as a backfill."""
    answer = http.post(base + "/admin/backfills", json={"object": "Lead", "dry_run": True}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    bid = answer.json()["id"]
    store.hset(f"crmsync:backfill:{bid}:chunks", "k:0", "sf:Lead:00Q000000000001AAA")
    for method in ("GET", "DELETE"):
        answer = http.request(method, f"{base}/admin/backfills/{bid}:chunks", headers=AUTH)
        assert_refusal(answer, 404)
        assert answer.json()["message"] == f"no backfill '{bid}:chunks'"
    answer = http.post(
        f"{base}/admin/backfills/{bid}:chunks/cancel", cookies=signed_in(), allow_redirects=False
    )
    assert answer.status_code == 303 and "no+backfill" in answer.headers["location"]


def signed_in() -> dict[str, str]:
    return {page.COOKIE: page.session_value(TOKEN)}


@fuzz(40)
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=400), max_size=3),
    path=st.sampled_from(["/admin", "/admin/status", "/admin/backfills"]),
)
def test_any_query_parameters_never_make_a_500(
    base: str, http: requests.Session, params: dict[str, str], path: str
) -> None:
    answer = http.get(base + path, params=params, headers=AUTH, cookies=signed_in(), timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    assert "<script" not in answer.text.lower()  # the page has no script; a reflected note is escaped


@fuzz(40)
@given(
    form=st.binary(max_size=200)
    | st.dictionaries(st.text(max_size=8), st.text(max_size=60), max_size=3).map(
        lambda d: "&".join(f"{quote(k)}={quote(v)}" for k, v in d.items()).encode()
    )
)
def test_any_form_to_login_or_resync_is_answered_never_a_500(
    base: str, http: requests.Session, store: redis.Redis, form: bytes
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    login = http.post(base + "/admin/login", data=form, headers=headers, allow_redirects=False, timeout=30)
    assert login.status_code == 401 and "not the admin token" in login.text
    resync = http.post(
        base + "/admin/resync",
        data=form,
        headers=headers,
        cookies=signed_in(),
        allow_redirects=False,
        timeout=60,
    )
    assert resync.status_code == 303 and resync.headers["location"].startswith("/admin?note="), resync.text[
        :300
    ]


def test_a_note_in_the_page_is_escaped(base: str, http: requests.Session) -> None:
    answer = http.get(base + "/admin", params={"note": "<script>alert(1)</script>"}, cookies=signed_in())
    assert (
        "<script>alert(1)</script>" not in answer.text
        and "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    )


near_tokens = st.sampled_from(
    [f"Bearer {TOKEN[:k]}" for k in (0, 1, 8, len(TOKEN) - 1)]
    + [f"Bearer {TOKEN}x", f"Bearer {TOKEN.upper()}", f"Token {TOKEN}", f"Bearer{TOKEN}", f"{TOKEN}"]
)
latin1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f")


@fuzz(60)
@given(header=near_tokens | st.text(alphabet=latin1, max_size=80).filter(lambda h: h == h.lstrip()))
def test_any_other_authorization_header_is_401_and_shows_no_token(
    base: str, http: requests.Session, store: redis.Redis, header: str
) -> None:
    before = started(store)
    for method, path in (("GET", "/admin/status"), ("POST", "/admin/backfills")):
        answer = http.request(method, base + path, headers={"Authorization": header}, json={}, timeout=30)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"] == "unauthorized" and TOKEN not in answer.text
    assert started(store) == before


def test_every_token_check_is_constant_time(
    base: str, http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each path that checks the admin token compares it with ``hmac.compare_digest`` (no ``==`` that
    stops at the first differing byte), for a wrong token of the same length, a shorter one and none."""
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    near = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
    session = page.session_value(TOKEN)
    for wrong in (near, TOKEN[:5], ""):
        calls.clear()
        answer = http.get(base + "/admin/status", headers={"Authorization": f"Bearer {wrong}"})
        assert answer.status_code == 401
        assert (wrong.encode(), TOKEN.encode()) in calls
        calls.clear()
        answer = http.post(base + "/admin/login", data={"token": wrong}, allow_redirects=False)
        assert answer.status_code == 401 and (wrong.encode(), TOKEN.encode()) in calls
        calls.clear()
        answer = http.get(base + "/admin", cookies={page.COOKIE: wrong})
        assert 'name="token"' in answer.text  # the login form: not signed in
        assert (wrong.encode(), session.encode()) in calls
    calls.clear()
    assert http.get(base + "/admin/status", headers=AUTH).status_code == 200
    assert (TOKEN.encode(), TOKEN.encode()) in calls
