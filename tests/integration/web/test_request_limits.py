"""Issue 12 item 6: headers are checked before the body is read, bodies are capped, and slow or
half-sent requests are cut off. Raw sockets against a real uvicorn server configured exactly as
``crmsync web`` configures it (``worker.web.limits.uvicorn_config``)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from sandbox.hubspot.webhooks import sign_v3
from worker.crm.hubspot.settings import HubSpotSettings
from worker.state.dirty import DirtySet
from worker.web.hubspot import create_app
from worker.web.settings import WebSettings

from .conftest import serve_in_thread
from .hubspot_requests import SECRET, event

pytestmark = pytest.mark.integration
LIMITS = WebSettings(max_body_bytes=4096, body_timeout_s=0.5, header_timeout_s=0.5)
PATH = "/webhooks/hubspot"


@pytest.fixture
def dirty(redis_client: Any) -> DirtySet:
    return DirtySet(redis_client)


@pytest.fixture
def address(dirty: DirtySet, caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, int]]:
    app = create_app(HubSpotSettings(app_secret=SecretStr(SECRET)), dirty, web=LIMITS)
    with serve_in_thread(app, LIMITS) as base:
        parts = urlsplit(base)
        yield parts.hostname or "127.0.0.1", parts.port or 80
    assert "Traceback" not in caplog.text  # refusals are answers, not errors


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    return sock


def _signed_head(address: tuple[str, int], body: bytes, length: int | None = None) -> bytes:
    url = f"http://{address[0]}:{address[1]}{PATH}"
    stamp = str(int(time.time() * 1000))
    signature = sign_v3(SECRET, "POST", url, body, stamp)
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length if length is not None else len(body)}\r\n"
        f"X-HubSpot-Signature-v3: {signature}\r\nX-HubSpot-Request-Timestamp: {stamp}\r\n\r\n"
    ).encode()


def _read_all(sock: socket.socket, timeout: float = 5) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # closed with our unread bytes in its buffer
            data = b""
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_unsigned_request_is_refused_before_its_body_is_sent(address: tuple[str, int]) -> None:
    """The 200 MB body of the probe is never read: 401 arrives with only the head sent."""
    sock = _connect(address)
    head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n".encode()
    started = time.monotonic()
    sock.sendall(head)
    response = _read_all(sock)
    # 401, not the 408 a body read would end in: the body was never waited for
    assert _status(response) == 401 and b"connection: close" in response.lower()
    assert time.monotonic() - started < 3


def test_declared_body_over_the_cap_is_413_before_it_is_read(address: tuple[str, int]) -> None:
    sock = _connect(address)
    sock.sendall(_signed_head(address, b"[]", length=200 * 1024 * 1024))
    response = _read_all(sock)
    assert _status(response) == 413 and b"4096 bytes" in response


def test_chunked_body_over_the_cap_is_cut_at_the_cap(address: tuple[str, int], dirty: DirtySet) -> None:
    sock = _connect(address)
    url = f"http://{address[0]}:{address[1]}{PATH}"
    stamp = str(int(time.time() * 1000))
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nTransfer-Encoding: chunked\r\n"
        f"X-HubSpot-Signature-v3: {sign_v3(SECRET, 'POST', url, b'', stamp)}\r\n"
        f"X-HubSpot-Request-Timestamp: {stamp}\r\n\r\n"
    ).encode()
    sock.sendall(head)
    chunk = b"x" * 1024
    for _ in range(5):  # 5 KiB, over the 4 KiB cap
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    response = _read_all(sock)
    assert _status(response) == 413
    assert dirty.size("contacts") == 0


def test_a_body_that_stalls_gets_408_and_the_connection_closes(address: tuple[str, int]) -> None:
    body = json.dumps([event(1, 501)]).encode()
    sock = _connect(address)
    started = time.monotonic()
    sock.sendall(_signed_head(address, body) + body[:10])  # then nothing
    response = _read_all(sock)
    elapsed = time.monotonic() - started
    assert _status(response) == 408 and b"0.5 s" in response
    assert 0.4 < elapsed < 3


def test_a_body_trickled_slower_than_the_deadline_is_cut(address: tuple[str, int]) -> None:
    """The deadline is for the whole body, not per read: a byte every 0.2 s does not keep it open."""
    body = json.dumps([event(1, 501)]).encode()
    sock = _connect(address)
    sock.sendall(_signed_head(address, body))
    started = time.monotonic()
    sock.settimeout(5)
    for byte in body[:20]:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
        if time.monotonic() - started > 1.0:
            break
    response = _read_all(sock)
    assert _status(response) == 408


def test_a_half_sent_request_head_is_closed_after_the_header_deadline(address: tuple[str, int]) -> None:
    sock = _connect(address)
    started = time.monotonic()
    sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nX-Hub".encode())
    assert _read_all(sock) == b""  # closed without an answer
    assert 0.4 < time.monotonic() - started < 3


def test_an_idle_keep_alive_connection_sending_half_a_second_head_is_closed(
    address: tuple[str, int],
) -> None:
    sock = _connect(address)
    sock.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(5)
    first = b""
    while not first.endswith(b"Not Found"):  # the whole first answer (head and body)
        first += sock.recv(65536)
    assert _status(first) == 404 and b"connection: close" not in first.lower()  # kept alive
    started = time.monotonic()
    sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHo")  # cancels uvicorn's keep-alive timer
    assert _read_all(sock) == b""
    assert time.monotonic() - started < 3


def test_fifty_half_sent_requests_are_all_closed_within_the_deadlines(address: tuple[str, int]) -> None:
    body = json.dumps([event(1, 501)]).encode()
    socks = []
    for i in range(50):
        sock = _connect(address)
        if i % 2:
            sock.sendall(_signed_head(address, body) + body[:5])  # half a body
        else:
            sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\n")  # half a head
        socks.append(sock)
    started = time.monotonic()
    for sock in socks:
        _read_all(sock, timeout=5)  # raises if any stays open 5 s
    assert time.monotonic() - started < 4


def test_a_request_head_growing_past_the_cap_is_refused(address: tuple[str, int]) -> None:
    """h11 refuses an unfinished head once it holds more than ``max_header_bytes`` (16 KiB)."""
    sock = _connect(address)
    started = time.monotonic()
    sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nX-Pad: {'a' * 20_000}".encode())
    response = _read_all(sock)
    assert _status(response) == 400  # the header deadline would close without an answer
    assert time.monotonic() - started < 3


def test_a_content_length_that_is_not_a_number_is_400(address: tuple[str, int]) -> None:
    sock = _connect(address)
    sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n".encode())
    response = _read_all(sock)
    assert _status(response) == 400


def test_a_normal_request_still_works_under_the_limits(address: tuple[str, int], dirty: DirtySet) -> None:
    body = json.dumps([event(1, 501)]).encode()
    sock = _connect(address)
    sock.sendall(_signed_head(address, body) + body)
    sock.settimeout(5)
    response = sock.recv(65536)
    assert _status(response) == 200, response
    assert dirty.members("contacts") == {"501"}


def test_complete_requests_keep_their_connection_alive(address: tuple[str, int], dirty: DirtySet) -> None:
    sock = _connect(address)
    sock.settimeout(5)
    for i in (1, 2):
        body = json.dumps([event(i, 500 + i)]).encode()
        sock.sendall(_signed_head(address, body) + body)
        answer = b""
        while b'"unknown_types"' not in answer:
            answer += sock.recv(65536)
        assert _status(answer) == 200 and b"connection: close" not in answer.lower()
    assert dirty.members("contacts") == {"501", "502"}
