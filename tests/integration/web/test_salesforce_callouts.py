"""The JSON change endpoint for Flow/Apex callouts: a shared secret (checked before the body is read),
a strict body, ids stored in their 18-character form. Real uvicorn, real Redis."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import requests
from pydantic import SecretStr

from sandbox.salesforce.ids import make_id
from worker.state.dirty import DirtySet
from worker.web.app import create_app
from worker.web.settings import WebSettings

from .conftest import serve_in_thread

pytestmark = pytest.mark.integration
SECRET = "callout-secret-0123456789abcdef"
LEAD = make_id("00Q", 3)
AUTH = {"Authorization": f"Bearer {SECRET}"}


def _changes(*changes: Any) -> bytes:
    return json.dumps({"changes": list(changes)}).encode()


@pytest.fixture
def dirty(redis_client: Any) -> DirtySet:
    return DirtySet(redis_client, "salesforce")


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[str]:
    """One app for the module (each test still starts from a flushed database)."""
    client = redis.Redis.from_url(redis_url)
    web = WebSettings(callout_secret=SecretStr(SECRET), max_events=5)
    with serve_in_thread(create_app(web, client), web) as base:
        yield base + "/webhooks/salesforce/changes"
    client.close()


@pytest.fixture
def endpoint(server: str, redis_client: Any) -> str:
    return server


def test_changes_with_the_secret_are_queued(endpoint: str, dirty: DirtySet) -> None:
    contact = make_id("003", 4)
    body = {"changes": [{"object": "Lead", "id": LEAD}, {"object": "Contact", "id": contact[:15]}]}
    r = requests.post(endpoint, json=body, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"received": 2, "queued": 2, "duplicates": 0}
    assert dirty.members("Lead") == {LEAD} and dirty.members("Contact") == {contact}  # 15 -> 18


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": SECRET},
        {"Authorization": f"Bearer {SECRET}x"},
    ],
    ids=["none", "wrong", "no-scheme", "longer"],
)
def test_without_the_secret_is_401_and_nothing_queued(
    endpoint: str, dirty: DirtySet, headers: dict[str, str]
) -> None:
    r = requests.post(endpoint, json={"changes": [{"object": "Lead", "id": LEAD}]}, headers=headers)
    assert r.status_code == 401 and SECRET not in r.text
    assert dirty.size("Lead") == 0


def test_the_secret_is_checked_before_the_body_is_read(endpoint: str) -> None:
    """An unauthenticated client declaring a body it never sends is answered at once."""
    parts = urlsplit(endpoint)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{{".encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401")
    assert time.monotonic() - started < 2  # not the 10 s body deadline


def test_same_event_id_is_recorded_once(endpoint: str, dirty: DirtySet) -> None:
    change = {"object": "Lead", "id": LEAD, "eventId": "2026-11-30T15:00:00.000Z"}
    assert requests.post(endpoint, json={"changes": [change]}, headers=AUTH).json()["queued"] == 1
    dirty.pop("Lead")
    again = requests.post(endpoint, json={"changes": [change]}, headers=AUTH).json()
    assert again == {"received": 1, "queued": 0, "duplicates": 1}
    later = {**change, "eventId": "2026-11-30T15:05:00.000Z"}
    assert requests.post(endpoint, json={"changes": [later]}, headers=AUTH).json()["queued"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "changes"),
        (b'{"changes": []}', "changes"),
        (b'{"changes": {"object": "Lead"}}', "changes"),
        (b"\xff", "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"changes": [{"object": "Case", "id": "500000000000001"}]}', "object must be one of"),
        (b'{"changes": [{"object": "Lead", "id": 5}]}', "Salesforce id"),
        (b'{"changes": [{"object": "Lead", "id": "../../etc/passwd"}]}', "Salesforce id"),
        (_changes({"object": "Lead", "id": make_id("003", 1)}), "not a Lead id"),
        (_changes({"object": "Lead", "id": LEAD[:15] + "AAA"}), "suffix"),
        (_changes({"object": "Lead", "id": LEAD, "eventId": 5}), "eventId"),
        (_changes({"object": "Lead", "id": LEAD, "x": 1}), "optional eventId"),
        (_changes({"object": "Lead", "id": LEAD}, 7), "change 1"),
    ],
    ids=[
        "array",
        "empty",
        "not-a-list",
        "not-utf8",
        "deep",
        "type-not-followed",
        "id-int",
        "id-path",
        "contact-id-as-lead",
        "bad-suffix",
        "eventId-int",
        "unknown-key",
        "second-bad",
    ],
)
def test_malformed_body_is_400_and_nothing_queued(
    endpoint: str, dirty: DirtySet, body: bytes, message: str
) -> None:
    r = requests.post(endpoint, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert dirty.size("Lead") == 0


def test_more_changes_than_the_cap_is_413_and_nothing_queued(endpoint: str, dirty: DirtySet) -> None:
    changes = [{"object": "Lead", "id": make_id("00Q", i)} for i in range(1, 7)]
    r = requests.post(endpoint, json={"changes": changes}, headers=AUTH)
    assert r.status_code == 413 and "at most 5" in r.json()["error"]
    assert dirty.size("Lead") == 0
