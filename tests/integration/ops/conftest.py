"""Fixtures: the environment that points the ``crmsync`` operator commands at the sandboxes and the
test Redis (the sandboxes, adapters and sync service are ``tests/integration/conftest.py``'s)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS, ROOT
from tests.e2e.conftest import Service, wait_until
from tests.secretscan import SCAN
from worker.cli import app
from worker.ops.backfill import BackfillStore
from worker.state.store import State


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
        done = subprocess.run(
            [str(Path(sys.executable).parent / "crmsync"), *args],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        SCAN.watch_text(done.stdout + done.stderr, f"output of crmsync {' '.join(args)[:60]}", env)
        return done


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


def lead_backfill_killed_mid_way(crmsync: Crmsync, workers: Service, redis_client: Any, people: int) -> str:
    """Start a worker and a lead backfill in chunks of 200; SIGKILL the worker and its pool children
    once a quarter is done (mid-chunk). Returns the backfill's id."""
    first = start_worker(workers, concurrency=2)
    started = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "200", "--detach")
    assert started.exit_code == 0, started.output
    bid = str(started.stdout.strip())
    store = BackfillStore(redis_client)

    def progress() -> int:
        b = store.get(bid)
        return b.done if b is not None else 0

    wait_until("a quarter of the backfill", lambda: progress() >= people // 4, timeout=240, every=0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = store.get(bid)
    assert at_kill is not None and at_kill.state in ("enumerating", "running") and at_kill.done < people
    return bid


def assert_each_lead_backfilled_once(
    sf_sandbox: SalesforceSandbox, hs_sandbox: HubSpotSandbox, stores: State, bid: str, people: int
) -> None:
    """Nothing lost (every lead linked to its own HubSpot contact, every person's base stored) and
    nothing doubled (one contact per lead and per email, at most one create per person in the audit)."""
    leads = sf_sandbox.org.stores["Lead"].records
    contacts = hs_sandbox.portal.stores["contacts"].records.values()
    assert len(leads) == len(contacts) == people
    by_email = Counter(str(c.props.get("email")) for c in contacts)
    assert max(by_email.values()) == 1
    lead_ids = {str(r["Id"]): str(r.get("HubSpot_Contact_ID__c") or "") for r in leads.values()}
    assert all(lead_ids.values())
    assert len(set(lead_ids.values())) == people
    assert len(stores.bases.get_many([f"sf:Lead:{i}" for i in lead_ids])) == people
    created: dict[str, set[str]] = {}
    for e in stores.audit.entries(run=bid):
        if e.op == "create" and e.side == "hubspot":
            created.setdefault(e.person, set()).add(e.record)
    assert created and {len(records) for records in created.values()} == {1}
