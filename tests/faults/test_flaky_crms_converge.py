"""Promise: at-least-once processing, effectively-once effects, while both CRMs misbehave.

About one call in twenty to each sandbox fails (HubSpot: 500, 503, 429 without reset headers, a
connection dropped before the request is handled, an answer lost after the write committed;
Salesforce: UNKNOWN_EXCEPTION 500, SERVER_UNAVAILABLE 503, UNABLE_TO_LOCK_ROW, a dropped connection),
and HubSpot's ten-second limit is cut to 15 calls for a while (a burst of real 429s with their
rate-limit headers). Both CRMs still end as the map dictates: one record per person per side, linked,
every create audited, nothing dead-lettered, and a re-sync writes nothing."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from sandbox.hubspot.limits import TIERS, RateLimitTier
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.faults.conftest import Workload, assert_converged, sf_api, start_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EVERY = 20  # one failing call in EVERY: 5 %

HS_FAULTS: list[dict[str, Any]] = [
    {"status": 500},
    {"status": 503},
    {"status": 429},
    {"drop": True},
]
#: armed once beside the cycle: a create batch whose answer is lost after it committed
LOST_ANSWER = {"drop_after": True, "path_prefix": "/crm/v3/objects/contacts/batch/upsert", "count": 1}
SF_FAULTS: list[dict[str, Any]] = [
    {"kind": "error", "error_code": "UNKNOWN_EXCEPTION"},
    {"kind": "error", "error_code": "SERVER_UNAVAILABLE"},
    {"kind": "error", "error_code": "UNABLE_TO_LOCK_ROW"},
    {"kind": "drop"},
]


class Injector:
    """Keeps one fault armed on each sandbox: HubSpot's lets ``EVERY - 1`` matching calls through
    first; Salesforce's is armed each time the org has counted another ``EVERY`` API calls."""

    def __init__(self, sf: SalesforceSandbox, hs: HubSpotSandbox) -> None:
        self.sf, self.hs = sf, hs
        self.stop = threading.Event()
        self.armed = {"salesforce": 0, "hubspot": 0}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        hs_kinds, sf_kinds = itertools.cycle(HS_FAULTS), itertools.cycle(SF_FAULTS)
        next_sf = self.sf.org.api_used + EVERY
        current: dict[str, Any] = {}
        while not self.stop.is_set():
            if not any(f is current for f in self.hs.backend.faults):
                fault = {"path_prefix": "/crm", **next(hs_kinds)}
                self.hs.arm_fault(skip=EVERY - 1, count=1, **fault)
                current = self.hs.backend.faults[-1]
                self.armed["hubspot"] += 1
            if self.sf.org.api_used >= next_sf:
                spec = dict(next(sf_kinds))
                self.sf.add_fault(spec.pop("kind"), **spec)
                self.armed["salesforce"] += 1
                next_sf = self.sf.org.api_used + EVERY
            time.sleep(0.02)

    def __enter__(self) -> Injector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sf.clear_faults()
        self.hs.clear_faults()


def test_both_crms_converge_while_one_call_in_twenty_fails_and_429s_burst(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    start_daemon(faults, redis_client)
    # armed before the people are made: the daemon may sync them before a later arm (the workload's own
    # HubSpot calls are single creates, not the batch upsert this fault waits for)
    hs_box.arm_fault(**LOST_ANSWER)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=60, contacts=20)  # enough calls on each side for several faults to fire
    with Injector(sf_box, hs_box) as inj:
        hs_box.configure(tier=RateLimitTier(per_ten_seconds=15, daily=None, search_per_second=None))
        time.sleep(12)
        hs_box.configure(tier=TIERS["unlimited"])
        time.sleep(10)  # faults keep firing while the daemon works and polls
        # a fault is re-armed only after the previous one fired: wait (the daemon's polls keep calling
        # both CRMs) until at least two fired on each side, however few calls the workload itself made
        wait_until(
            "two faults fired on each side",
            lambda: inj.armed["hubspot"] >= 3 and inj.armed["salesforce"] >= 3,
            timeout=90,
        )
        assert_converged(sf_box, hs_box, redis_client, work)
        assert not any(f.get("drop_after") for f in hs_box.backend.faults), "no create answer was lost"
