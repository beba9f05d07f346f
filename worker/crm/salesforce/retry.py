"""The retry policy: named constants built from settings, one predicate, one wait rule.

Only RetriableError is retried; the wait honours the error's own ``wait_seconds`` (Salesforce sends no
Retry-After, reference §7, but a concurrent-limit pause is ours to choose), otherwise exponential
backoff with jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from worker.crm.salesforce.settings import SalesforceSettings
from worker.errors import RetriableError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    initial_wait: float
    max_wait: float

    @classmethod
    def from_settings(cls, settings: SalesforceSettings) -> RetryPolicy:
        return cls(settings.retry_attempts, settings.retry_initial_wait, settings.retry_max_wait)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RetriableError) and exc.wait_seconds is not None:
            return min(exc.wait_seconds, self.max_wait)
        backoff = wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait)
        return float(backoff(state))

    def retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            reraise=True,
        )
