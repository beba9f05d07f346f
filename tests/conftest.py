"""Fixtures shared by every test layer.

Real-service fixtures skip on a laptop without the service, but fail in CI (``CI=true``): a green CI
run must never hide a missing Redis.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.secretscan import SCAN

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(what: str, why: str) -> None:
    """Skip locally, fail in CI, when a real service a test needs is not there."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("CRMSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _flushed_redis(redis_url: str) -> Iterator[Any]:
    """A real Redis connection on the test database, flushed before and after (what it held scanned
    for secrets first)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        require_service("redis-server", f"{redis_url}: {exc}")
    client.flushdb()
    yield client
    SCAN.scan_redis(client)
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[object]:
    """A real Redis connection on a test database, flushed before and after each test."""
    yield from _flushed_redis(redis_url)


@pytest.fixture(scope="module")
def module_redis(redis_url: str) -> Iterator[Any]:
    """The same for a whole module (a server fixture shared by hypothesis examples)."""
    yield from _flushed_redis(redis_url)


@pytest.fixture(scope="module")
def sf_box() -> Iterator[Any]:
    """The Salesforce sandbox over HTTPS on an ephemeral port, for a module (e2e and fault tests)."""
    from sandbox.salesforce.server import SalesforceSandbox

    with SalesforceSandbox() as box:
        yield box


@pytest.fixture(scope="module")
def hs_box() -> Iterator[Any]:
    """The HubSpot sandbox over HTTP on an ephemeral port, for a module (e2e and fault tests)."""
    from sandbox.hubspot.server import HubSpotSandbox

    with HubSpotSandbox() as box:
        yield box


@pytest.fixture
def project_loggers() -> Iterator[None]:
    """The project's loggers (``worker.logs.PROJECT_LOGGERS``) and the root put back as they were, for
    tests that configure the log lines."""
    import logging

    from worker.logs import PROJECT_LOGGERS

    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name in (*PROJECT_LOGGERS, "")
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate
