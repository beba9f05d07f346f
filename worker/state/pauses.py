"""Paused CRMs: when a CRM's quota is spent (or its credentials are refused for good) its work stops
until the pause expires, instead of spinning. ``crmsync:pause:{crm}`` holds the reason, with a TTL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.state import keys


class PauseStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def pause(self, crm: str, reason: str, *, seconds: float) -> None:
        self.redis.set(keys.pause(crm), reason[:500], px=max(1, int(seconds * 1000)))

    def paused(self, crm: str) -> str | None:
        """The reason the CRM is paused, or None."""
        return keys.text(self.redis.get(keys.pause(crm)))

    def paused_many(self, crms: Sequence[str]) -> dict[str, str]:
        """The paused CRMs among ``crms`` with their reasons (one round trip)."""
        reasons = self.redis.mget([keys.pause(crm) for crm in crms])
        return {crm: keys.text(raw) or "" for crm, raw in zip(crms, reasons, strict=True) if raw is not None}

    def remaining_s(self, crm: str) -> float:
        ms = int(self.redis.pttl(keys.pause(crm)))
        return max(0.0, ms / 1000)

    def resume(self, crm: str) -> None:
        self.redis.delete(keys.pause(crm))
