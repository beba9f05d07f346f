"""Fixtures: the environment that points the ``crmsync`` operator commands at the sandboxes and the
test Redis (the sandboxes, adapters and sync service are ``tests/integration/conftest.py``'s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS, ROOT
from tests.e2e.conftest import Service
from worker.cli import app


def broker_of(redis_url: str) -> str:
    """The Celery broker for these tests: the test's own database. Celery's keys (``backfill``,
    ``_kombu.*``, ``unacked``) never collide with ``crmsync:*``, and a database + 8 can be another
    session's broker (db 4 + 8 = 12 here), whose workers would then take these tests' tasks."""
    return redis_url


@pytest.fixture
def ops_env(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    redis_client: Any,
    redis_url: str,
) -> Iterator[dict[str, str]]:
    """The commands' environment; the broker database is flushed around each test."""
    broker = redis.Redis.from_url(broker_of(redis_url))
    broker.flushdb()
    yield {
        "COLUMNS": "240",  # rich's tables at a wide terminal's width
        "CRMSYNC_REDIS_URL": redis_url,
        "CRMSYNC_BROKER_URL": broker_of(redis_url),
        "CRMSYNC_MAP": str(MAPPINGS / "default.yaml"),
        "CRMSYNC_SALESFORCE_AUTH_MODE": "soap",
        "CRMSYNC_SALESFORCE_USERNAME": "admin@crm-sync.sandbox",
        "CRMSYNC_SALESFORCE_PASSWORD": "password",
        "CRMSYNC_SALESFORCE_SECURITY_TOKEN": "TOKEN",
        "CRMSYNC_SALESFORCE_LOGIN_URL": sf_box.instance_url,
        "CRMSYNC_SALESFORCE_CA_BUNDLE": str(sf_box.ca_path),
        "CRMSYNC_SALESFORCE_RETRY_INITIAL_WAIT": "0.01",
        "CRMSYNC_SALESFORCE_RETRY_MAX_WAIT": "0.05",
        "CRMSYNC_HUBSPOT_BASE_URL": hs_box.base_url,
        "CRMSYNC_HUBSPOT_ACCESS_TOKEN": hs_box.token,
        "CRMSYNC_HUBSPOT_INDEX_LAG_MARGIN_S": "0",
        "CRMSYNC_HUBSPOT_LOOKBACK_S": "0",
        "CRMSYNC_HUBSPOT_BACKOFF_INITIAL_S": "0.01",
        "CRMSYNC_HUBSPOT_BACKOFF_MAX_S": "0.05",
    }
    broker.flushdb()
    broker.close()


class Crmsync:
    """``crmsync`` in process (CliRunner) with the test environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Any:
        return self.runner.invoke(app, list(args), env=self.env, catch_exceptions=False)

    def json(self, *args: str) -> tuple[int, Any]:
        result = self(*args, "--json")
        return result.exit_code, json.loads(result.stdout)

    def subprocess(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")} | self.env
        return subprocess.run(
            [str(Path(sys.executable).parent / "crmsync"), *args],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def crmsync(ops_env: dict[str, str]) -> Crmsync:
    return Crmsync(ops_env)


@pytest.fixture
def workers(ops_env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    """Start ``crmsync worker --queues backfill`` processes with the commands' environment (the
    broker is flushed around the test by ``ops_env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMSYNC_", "CELERY"))} | ops_env
    svc = Service(env | {"CRMSYNC_VERIFY_MAP_ON_START": "false"}, tmp_path)
    try:
        yield svc
    finally:
        svc.stop_all()


def start_worker(svc: Service, concurrency: int = 2) -> Any:
    return svc.start(
        "worker", "--queues", "backfill", "-c", str(concurrency), "-n", f"bf{len(svc.procs)}@test"
    )
