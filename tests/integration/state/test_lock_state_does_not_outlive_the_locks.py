"""Locks are taken for every person and, while a person lacks a side, for its records and its email:
millions of names over a year. Once released or expired they must leave (next to) nothing in Redis,
while fencing tokens keep growing for every name (review of the state stores: key growth)."""

from __future__ import annotations

from typing import Any

import pytest

from worker.state.locks import Locks

pytestmark = pytest.mark.integration


def test_five_hundred_released_locks_leave_at_most_one_key(redis_client: Any) -> None:
    locks = Locks(redis_client)
    for group in range(100):
        names = [f"email:p{group}-{i}@example.com" for i in range(5)]
        [leases] = locks.try_acquire_groups([names])
        assert leases is not None
        locks.release_all(leases)
    assert redis_client.dbsize() <= 1


def test_tokens_still_grow_for_each_name_across_names(redis_client: Any) -> None:
    locks = Locks(redis_client)
    first = locks.acquire("person-a")
    locks.release(first)
    for i in range(10):
        locks.release(locks.acquire(f"other-{i}"))
    again = locks.acquire("person-a")
    assert again.token > first.token
    [group] = locks.try_acquire_groups([["person-a-x", "person-a"]])
    assert group is None  # still held by ``again``
    locks.release(again)
    [group] = locks.try_acquire_groups([["person-a"]])
    assert group is not None and group[0].token > again.token


def test_event_markers_outlive_the_crms_retry_window_and_no_longer(redis_client: Any) -> None:
    """HubSpot retries a webhook up to 10 times over 24 hours, Salesforce an outbound message for 24
    hours: a marker must outlast that to deduplicate the retries, and kept longer it is only memory
    (one key per event; a duplicate after it expired costs one no-op sync)."""
    from worker.state.dirty import Change, DirtySet, Event

    DirtySet(redis_client).record([Event("k1", (Change("contacts", "1"),))])
    ttl = redis_client.ttl("crmsync:event:hubspot:k1")
    assert 24 * 3600 < ttl <= 2 * 86_400
