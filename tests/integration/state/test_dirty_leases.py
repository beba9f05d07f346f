"""Claiming dirty ids with a lease: a worker that dies between claim and finish loses nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from worker.state.dirty import Change, DirtySet, Event

pytestmark = pytest.mark.integration


def fill(dirty: DirtySet, *ids: str) -> None:
    dirty.record([Event(f"e-{i}", (Change("contacts", i),)) for i in ids])


def test_claim_moves_ids_into_leases_and_finish_drops_them(redis_client: Any) -> None:
    dirty = DirtySet(redis_client)
    fill(dirty, "1", "2", "3")
    claim = dirty.claim("contacts", 2, lease_s=60)
    assert len(claim.ids) == 2 and dirty.size("contacts") == 1
    assert set(dirty.leased("contacts")) == set(claim.ids)
    assert dirty.finish(claim) == 2
    assert dirty.leased("contacts") == {} and dirty.size("contacts") == 1


def test_a_killed_worker_s_ids_come_back_when_the_lease_expires(redis_client: Any) -> None:
    dirty = DirtySet(redis_client)
    fill(dirty, "1", "2")
    lost = dirty.claim("contacts", 10, lease_s=0.05)  # the worker holding this claim "dies"
    assert set(lost.ids) == {"1", "2"} and dirty.size("contacts") == 0
    time.sleep(0.1)
    again = dirty.claim("contacts", 10, lease_s=60)
    assert set(again.ids) == {"1", "2"} and again.requeued == 2
    assert dirty.finish(lost) == 0  # the dead worker's late finish does not drop the new lease
    assert set(dirty.leased("contacts")) == {"1", "2"}


def test_release_puts_ids_back_at_once(redis_client: Any) -> None:
    dirty = DirtySet(redis_client)
    fill(dirty, "1", "2")
    claim = dirty.claim("contacts", 10, lease_s=60)
    assert dirty.release(claim, ["2"]) == 1
    assert dirty.members("contacts") == {"2"} and set(dirty.leased("contacts")) == {"1"}


def test_a_change_while_leased_is_claimed_again_and_the_old_lease_cannot_drop_it(redis_client: Any) -> None:
    dirty = DirtySet(redis_client)
    fill(dirty, "7")
    first = dirty.claim("contacts", 10, lease_s=60)
    dirty.add("contacts", ["7"])  # changed again while the first sync runs
    second = dirty.claim("contacts", 10, lease_s=120)
    assert second.ids == ("7",)
    assert dirty.finish(first) == 0  # the lease is now the second claim's
    assert dirty.finish(second) == 1


def test_extend_keeps_a_long_batch_s_lease(redis_client: Any) -> None:
    dirty = DirtySet(redis_client)
    fill(dirty, "1")
    claim = dirty.claim("contacts", 1, lease_s=0.2)
    claim = dirty.extend(claim, lease_s=60)
    time.sleep(0.3)
    assert dirty.claim("contacts", 10, lease_s=60).ids == ()  # not re-queued: still leased
    assert dirty.finish(claim) == 1
