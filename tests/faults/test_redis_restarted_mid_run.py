"""Promise: at-least-once processing, effectively-once effects across a Redis restart.

A redis-server of the test's own (free port, append-only, fsync always) holds the state and the broker.
It is shut down while the daemon syncs and started again from its append-only file 3 s later; the
worker reconnects on its own, the beat exits and is restarted as its supervisor would, and both CRMs
converge with no duplicate record."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import require_service
from tests.e2e.conftest import running, wait_until
from tests.faults.conftest import FAST_RECOVERY, Workload, assert_converged, sf_api
from worker.demo import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class OwnRedis:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server", "not on PATH")
        self.binary = str(binary)
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen(
            [self.binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port)
        wait_until("redis-server to answer", lambda: _pings(client), timeout=20, every=0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.proc.wait(timeout=20)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_both_crms_converge_across_a_redis_restart(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, own_redis: OwnRedis, tmp_path: Path
) -> None:
    state: Any = redis.Redis.from_url(own_redis.url)
    with running(sf_box, hs_box, own_redis.url, tmp_path) as svc:
        svc.env.update({**FAST_RECOVERY, "CRMSYNC_BROKER_URL": own_redis.url.replace("/0", "/1")})
        beat = svc.start("beat")
        svc.start("worker", "-c", "2")
        wait_until(
            "the first polls",
            lambda: state.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
            timeout=60,
        )
        hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/upsert", delay_ms=1500, count=2)
        work = Workload(sf_api(sf_box), hs_box.client())
        work.make(leads=20, contacts=5)
        wait_until("a create in flight", lambda: len(hs_box.backend.faults) < 2, timeout=60, every=0.05)
        own_redis.stop()
        time.sleep(3)
        own_redis.start()
        # Found: celery-redbeat's beat exits on a lost Redis (the worker reconnects on its own); it
        # relies on its supervisor (docker-compose `restart:`, systemd) to come back, as here.
        deadline = time.monotonic() + 15
        while beat.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if beat.poll() is not None:
            svc.start("beat")
        assert_converged(sf_box, hs_box, state, work)
