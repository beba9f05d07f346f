"""Promise: at-least-once processing, effectively-once effects across a broker restart, on either broker.

The state stays on the test's Redis; the broker is a server of the test's own — a redis-server
(append-only) or a RabbitMQ node (durable queues, persistent messages) — stopped cleanly while a
HubSpot create is in flight and started again on the same port 3 s later. People are made while it is
down. The worker and the beat reconnect by themselves (nobody restarts the beat; the worker only when
kombu's Redis transport died of its known ack race, as its supervisor would), and both CRMs converge
with one record per person per side, every create audited and no change audited twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import (
    OwnRabbitMQ,
    OwnRedis,
    Workload,
    after_broker_outage,
    assert_converged,
    audited_twice,
    sf_api,
    start_daemon,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class Broker(Protocol):
    url: str

    def start(self) -> None: ...
    def stop(self) -> None: ...


@pytest.fixture(params=["redis", "rabbitmq"])
def own_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    if request.param == "redis":
        server: Any = OwnRedis(tmp_path)
        server.start()
        yield server
        server.stop()
    else:
        server = OwnRabbitMQ()
        try:
            server.start()
            yield server
        finally:
            server.remove()


def test_both_crms_converge_across_a_broker_restart(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any, own_broker: Broker
) -> None:
    faults.env["CRMSYNC_BROKER_URL"] = own_broker.url
    beat, worker = start_daemon(faults, redis_client)
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch/upsert", delay_ms=2000, count=1)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=12, contacts=4)
    wait_until("a create in flight", lambda: not hs_box.backend.faults, timeout=60, every=0.05)
    own_broker.stop()
    late = Workload(work.sf, work.hs, tag=f"{work.tag}x")
    late.make(leads=4, contacts=2)  # changes made while the broker is down
    time.sleep(3)
    own_broker.start()
    worker = after_broker_outage(faults, worker)
    work.leads.update(late.leads)
    work.contacts.update(late.contacts)
    assert_converged(sf_box, hs_box, redis_client, work)
    assert not audited_twice(redis_client)
    assert beat.poll() is None and worker.poll() is None, "a process exited when the broker went away"
