"""The retry policy: named constants built from settings, one predicate, one wait rule.

Only RetriableError is retried; the wait honours the error's own ``wait_seconds`` (Salesforce sends no
Retry-After, reference §7, but a concurrent-limit pause is ours to choose), otherwise exponential
backoff with full jitter. ``backoff(n)`` is the same wait for loops tenacity does not drive (per-record
UNABLE_TO_LOCK_ROW re-sends).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from worker.crm.salesforce.settings import SalesforceSettings
from worker.errors import CrmError, RetriableError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    initial_wait: float
    max_wait: float
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    @classmethod
    def from_settings(
        cls, settings: SalesforceSettings, sleep: Callable[[float], None] = time.sleep
    ) -> RetryPolicy:
        return cls(settings.retry_attempts, settings.retry_initial_wait, settings.retry_max_wait, sleep)

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based): uniform in [0, min(max, initial x 2^(n-1))]."""
        ceiling = min(self.max_wait, self.initial_wait * 2 ** max(0, retry_number - 1))
        return random.uniform(0, ceiling)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RetriableError) and exc.wait_seconds is not None:
            return min(exc.wait_seconds, self.max_wait)
        return self.backoff(state.attempt_number)

    def retrying(
        self,
        only: Callable[[CrmError], bool] | None = None,
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> Retrying:
        """Retry RetriableError (and, when ``only`` is given, only those it accepts); ``on_retry`` is
        told each failure that is about to be retried."""

        def wanted(exc: BaseException) -> bool:
            return isinstance(exc, RetriableError) and (only is None or only(exc))

        return Retrying(
            retry=retry_if_exception(wanted),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=_notify(on_retry),
        )


def _notify(on_retry: Callable[[BaseException], None] | None) -> Callable[[RetryCallState], None] | None:
    if on_retry is None:
        return None

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is not None:
            on_retry(exc)

    return before_sleep
