"""All the stores over one Redis connection, for the services that need several of them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from worker.state.audit import AuditLog
from worker.state.bases import BaseStore
from worker.state.cursors import CursorStore
from worker.state.deadletters import DeadLetterStore, DraftDeadLetters
from worker.state.dirty import DirtySet
from worker.state.intents import IntentStore
from worker.state.links import DraftLinks, LinkStore
from worker.state.locks import Locks
from worker.state.pauses import PauseStore


@dataclass(frozen=True)
class State:
    redis: Any
    links: LinkStore
    bases: BaseStore
    locks: Locks
    dead: DeadLetterStore
    audit: AuditLog
    cursors: CursorStore
    pauses: PauseStore
    intents: IntentStore

    @classmethod
    def connect(
        cls,
        redis: Any,
        *,
        lock_ttl_s: float = 120.0,
        audit_max_len: int = 1_000_000,
        audit_max_age_ms: int = 0,
    ) -> State:
        return cls(
            redis=redis,
            links=LinkStore(redis),
            bases=BaseStore(redis),
            locks=Locks(redis, ttl_s=lock_ttl_s),
            dead=DeadLetterStore(redis),
            audit=AuditLog(redis, max_len=audit_max_len, max_age_ms=audit_max_age_ms),
            cursors=CursorStore(redis),
            pauses=PauseStore(redis),
            intents=IntentStore(redis),
        )

    def drafting(self) -> State:
        """The stores a dry run uses: links and dead letters it would record stay in memory (reads see
        them, Redis never does); the rest is shared (a dry run stores no base, audit or intent)."""
        return replace(self, links=DraftLinks(self.links), dead=DraftDeadLetters(self.dead))

    def dirty(self, crm: str) -> DirtySet:
        return DirtySet(self.redis, crm)
