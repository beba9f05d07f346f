"""Links between a person's records, both directions.

- ``crmsync:link:{record key}`` → the person id the record belongs to (kept after a conversion or a
  merge re-points the person, so late signals about the old record still find the person);
- ``crmsync:person:{person id}`` → hash ``salesforce`` / ``hubspot``: the person's current record keys
  (and ``hubspot_merged_into`` / ``salesforce_merged_into`` when its record on that side was merged
  into another person's record).

Linking is compare-and-set in one script: a record already linked to another person is never linked
a second time, so two workers meeting the same pair from both sides end with one person. The link ids
are also written into both CRMs (``HubSpot_Contact_ID__c``, ``salesforce_lead_id`` /
``salesforce_contact_id``) by the sync service, so links survive a lost Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from worker.state import keys

Side = Literal["salesforce", "hubspot"]

# KEYS[1] link(record), KEYS[2] person hash; ARGV pid, side, record key → the pid the record belongs to
_LINK = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return ARGV[1]
"""


@dataclass(frozen=True)
class Person:
    id: str
    salesforce: str | None = None  # record key, e.g. sf:Lead:00Q…
    hubspot: str | None = None  # record key, e.g. hs:contacts:123
    hubspot_merged_into: str | None = None
    salesforce_merged_into: str | None = None

    def side(self, side: Side) -> str | None:
        return self.salesforce if side == "salesforce" else self.hubspot


class LinkStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._link = redis.register_script(_LINK)

    def person_of(self, record_keys: Sequence[str]) -> dict[str, str]:
        """Record key → person id for the linked ones (one round trip)."""
        if not record_keys:
            return {}
        raw = self.redis.mget([keys.link(k) for k in record_keys])
        return {k: v for k, r in zip(record_keys, raw, strict=True) if (v := keys.text(r)) is not None}

    def people(self, person_ids: Sequence[str]) -> dict[str, Person]:
        pipe = self.redis.pipeline(transaction=False)
        for pid in person_ids:
            pipe.hgetall(keys.person(pid))
        out: dict[str, Person] = {}
        for pid, doc in zip(person_ids, pipe.execute(), strict=True):
            if not doc:
                continue
            fields = {keys.text(k) or "": keys.text(v) or None for k, v in doc.items()}
            out[pid] = Person(
                pid,
                fields.get("salesforce"),
                fields.get("hubspot"),
                fields.get("hubspot_merged_into"),
                fields.get("salesforce_merged_into"),
            )
        return out

    def person(self, person_id: str) -> Person | None:
        return self.people([person_id]).get(person_id)

    def link(self, person_id: str, side: Side, record_key: str) -> str:
        """Make ``record_key`` the person's record on ``side``; returns the person the record belongs to
        — another person's id when it was linked to someone else first (nothing changed then)."""
        got = self._link(
            keys=[keys.link(record_key), keys.person(person_id)], args=[person_id, side, record_key]
        )
        return keys.text(got) or person_id

    def unlink_side(self, person_id: str, side: Side, *, merged_into: str | None = None) -> None:
        """The person's record on ``side`` is gone (deleted, or merged into another person's record)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.person(person_id), side)
        if merged_into is not None:
            pipe.hset(keys.person(person_id), f"{side}_merged_into", merged_into)
        pipe.execute()

    def forget(self, record_key: str) -> None:
        self.redis.delete(keys.link(record_key))


class DraftLinks(LinkStore):
    """Links a dry run makes, kept in memory over the stored ones: within the run it reads exactly as
    if they were stored (a later key of the batch finds the person), and Redis never sees them."""

    def __init__(self, stored: LinkStore) -> None:
        self.redis = stored.redis
        self._stored = stored
        self._owner: dict[str, str] = {}
        self._people: dict[str, dict[str, str | None]] = {}

    def person_of(self, record_keys: Sequence[str]) -> dict[str, str]:
        out = self._stored.person_of([k for k in record_keys if k not in self._owner])
        return out | {k: self._owner[k] for k in record_keys if k in self._owner}

    def people(self, person_ids: Sequence[str]) -> dict[str, Person]:
        out = self._stored.people(person_ids)
        for pid in person_ids:
            draft = self._people.get(pid)
            if draft is None:
                continue
            was = out.get(pid, Person(pid))
            fields = {
                "salesforce": was.salesforce,
                "hubspot": was.hubspot,
                "hubspot_merged_into": was.hubspot_merged_into,
            } | draft
            out[pid] = Person(pid, fields["salesforce"], fields["hubspot"], fields["hubspot_merged_into"])
        return out

    def link(self, person_id: str, side: Side, record_key: str) -> str:
        current = self.person_of([record_key]).get(record_key)
        if current is not None and current != person_id:
            return current
        self._owner[record_key] = person_id
        self._people.setdefault(person_id, {})[side] = record_key
        return person_id

    def unlink_side(self, person_id: str, side: Side, *, merged_into: str | None = None) -> None:
        draft = self._people.setdefault(person_id, {})
        draft[side] = None
        if merged_into is not None:
            draft[f"{side}_merged_into"] = merged_into

    def forget(self, record_key: str) -> None:
        self._owner.pop(record_key, None)
