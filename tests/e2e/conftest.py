"""End-to-end harness: both sandboxes over HTTP(S) on ephemeral ports, a real redis-server, and the
service's own processes (``crmsync worker`` / ``crmsync beat``) started as subprocesses with short poll
intervals. The CRMs are driven only through their public APIs. Waits are wait-until with timeouts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox.hubspot.limits import TIERS
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import ROOT, require_service
from tests.secretscan import SCAN
from worker.demo import demo_env

CRMSYNC = str(Path(sys.executable).parent / "crmsync")


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def broker_url(redis_url: str) -> str:
    """The test's second database (db + 8) as the Celery broker, so broker keys never mix with state;
    ``CRMSYNC_TEST_BROKER_URL`` names another one (a machine shared by several test sessions)."""
    if os.environ.get("CRMSYNC_TEST_BROKER_URL"):
        return os.environ["CRMSYNC_TEST_BROKER_URL"]
    head, _, db = redis_url.rpartition("/")
    return f"{head}/{(int(db or 0) + 8) % 16}"


@dataclass
class Service:
    """The environment the service's processes get, and the processes started with it."""

    env: dict[str, str]
    log_dir: Path
    procs: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"{args[0]}-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [CRMSYNC, *args],
            env={**self.env, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        self.procs.append((proc, log))
        SCAN.watch(log, {**self.env, **env})
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        for p, log in self.procs:
            if p is proc:
                return log.read_text(errors="replace")
        return ""

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Stop every process; their logs go to stdout, which pytest shows for a failed test."""
        for proc, log in self.procs:
            print(f"----- {log.name} -----\n{log.read_text(errors='replace')[-6000:]}")
            self.stop(proc)


@contextmanager
def running(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_url: str, log_dir: Path
) -> Iterator[Service]:
    """Fresh sandboxes, flushed state and broker databases, and a ``Service`` to start processes with."""
    import redis

    sf_box.reset()
    hs_box.reset()
    hs_box.configure(tier=TIERS["unlimited"])
    state = redis.Redis.from_url(redis_url)
    broker = broker_url(redis_url)
    broker_client = redis.Redis.from_url(broker)
    try:
        state.flushdb()
        broker_client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        require_service("redis-server", f"{redis_url}: {exc}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_") and not k.startswith("CELERY")}
    # the demo's settings (1-2 s polls, the sandboxes), with 1 s polls and a broker database of its own
    env.update(demo_env(redis_url, sf_box.instance_url, str(sf_box.ca_path), hs_box.base_url, hs_box.token))
    env.update(
        {
            "CRMSYNC_BROKER_URL": broker,
            "CRMSYNC_SALESFORCE_POLL_SECONDS": "1",
            "CRMSYNC_HUBSPOT_POLL_SECONDS": "1",
        }
    )
    svc = Service(env, log_dir)
    try:
        yield svc
    finally:
        svc.stop_all()
        SCAN.scan_redis(state, "Redis after an e2e run")
        broker_client.flushdb()
        broker_client.close()
        state.close()


@pytest.fixture
def service(
    sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any, redis_url: str, tmp_path: Path
) -> Iterator[Service]:
    """For a test that starts its own processes (state flushed before and after by ``redis_client``)."""
    with running(sf_box, hs_box, redis_url, tmp_path) as svc:
        yield svc


@pytest.fixture(scope="module")
def daemon(
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """One worker and one beat for a whole module (tests there use people of their own)."""
    with running(sf_box, hs_box, redis_url, tmp_path_factory.mktemp("daemon")) as svc:
        svc.start("worker", "-c", "2")
        svc.start("beat")
        yield svc
