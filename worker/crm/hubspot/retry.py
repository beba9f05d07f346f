"""The retry policy: named constants from settings, one tenacity decorator factory.

Only ``RetriableError`` is retried (exponential backoff with jitter, or exactly the wait a 429's
headers give). Rejections, fatal errors and quota exhaustion surface at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import RetriableError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial_s: float = 0.5
    max_s: float = 30.0

    @classmethod
    def from_settings(cls, s: HubSpotSettings) -> RetryPolicy:
        return cls(max_attempts=s.max_attempts, initial_s=s.backoff_initial_s, max_s=s.backoff_max_s)

    def _wait(self) -> Callable[[RetryCallState], float]:
        jitter = wait_random_exponential(multiplier=self.initial_s, max=self.max_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetriableError) and exc.wait_seconds is not None:
                return min(self.max_s, exc.wait_seconds + 0.05)
            return float(jitter(state))

        return wait

    def run(self, fn: Callable[[], T], on_retry: Callable[[BaseException], None] | None = None) -> T:
        """``fn`` retried per the policy; ``on_retry`` is told each failure about to be retried."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            if on_retry is not None and exc is not None:
                on_retry(exc)

        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait(),
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
            before_sleep=before_sleep,
        )
        return retrying(fn)
