"""A client-side token bucket (``max_qps=``), shared by sync threads and async tasks.

Vendors sold by QPS (Alibaba's 1, 5 or 10) answer bursts with quota errors; pacing on the client avoids them.
The bucket only *reserves* a send time under a lock and returns how long to wait; the sync client sleeps that
long with ``time.sleep`` and the async client with ``anyio.sleep``, so one bucket serves both kinds of caller
(and a client's ``with_options`` copies, which share it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` requests per second on average, bursts of at most ``burst`` (default: one second's worth)."""

    def __init__(
        self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ):
        if not rate > 0:
            raise ValueError("max_qps must be a positive number")
        self.rate = float(rate)
        self.burst = max(1.0, float(burst) if burst is not None else self.rate)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; return the seconds to wait before sending (0 when one was available)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
