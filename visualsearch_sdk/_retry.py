"""One retry policy for both clients: what is retryable, how long to wait, when to give up.

Retried: connection errors and timeouts, 408, 429, 5xx and vendor "busy" codes (adapters map those onto
``RateLimitError``/``ServerError``). A request that may have reached the provider is retried only when the
operation is idempotent for that provider; a request that never left (connect error, pool timeout) or was
refused before processing (429) is always safe. ``Retry-After`` is honoured up to a cap; otherwise
exponential backoff with "equal jitter" (a wait drawn between half and all of the exponential ceiling, so
retries spread out but never come back at once); an optional deadline bounds the whole call: no wait that
would end past it is slept, so no attempt starts after it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import tenacity

from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    ServerError,
)

__all__ = ["RetryPolicy", "not_sent"]


def not_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the provider (so even a write may be retried)."""
    return isinstance(exc, APIConnectionError) and getattr(exc, "not_sent", False)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings; ``tenacity_kwargs`` turns them into ``Retrying``/``AsyncRetrying`` arguments."""

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    retry_after_cap: float = 60.0
    deadline: float | None = None
    """Seconds from the first attempt after which no new attempt starts: a wait that would end past it is not
    slept, the last error is raised instead."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def is_retryable(self, exc: BaseException, *, idempotent: bool) -> bool:
        """Whether an attempt that failed with ``exc`` may be repeated."""
        if not isinstance(exc, APIError):
            return False
        if not_sent(exc) or isinstance(exc, RateLimitError):
            return True
        if isinstance(exc, (APITimeoutError, APIConnectionError, ServerError)):
            return idempotent
        if isinstance(exc, APIStatusError) and exc.status_code == 408:
            return idempotent
        return False

    def wait_seconds(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to sleep before attempt ``attempt + 1``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after >= 0:
            return float(min(retry_after, self.retry_after_cap))
        ceiling = min(self.max_backoff, self.initial_backoff * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)

    def tenacity_kwargs(self, *, idempotent: bool, sleep: Any) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying``/``AsyncRetrying`` (the caller passes the sleep)."""
        stop: Any = tenacity.stop_after_attempt(self.max_retries + 1)
        if self.deadline is not None:
            stop = stop | tenacity.stop_before_delay(self.deadline)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait_seconds(state.attempt_number, exc)

        return {
            "stop": stop,
            "wait": wait,
            "retry": tenacity.retry_if_exception(lambda e: self.is_retryable(e, idempotent=idempotent)),
            "reraise": True,
            "sleep": sleep,
        }
