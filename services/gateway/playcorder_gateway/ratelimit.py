"""The per-connection limit on client WebSocket messages: a token bucket, so a client may send a burst of `burst`
messages and then `rate` a second; beyond it messages are dropped, and the client is told at most once a window."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()
        self.window = burst / rate  # seconds an empty bucket takes to fill up again
        self.notice_after = float("-inf")  # when the next rate_limited notice may go out
        self.dropped = 0  # messages dropped since the last notice

    def take(self) -> bool:
        """Whether one more message may pass now (and counts it)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False

    def retry_after(self) -> float:
        """Seconds until the next message would pass."""
        return max(0.001, round((1 - self.tokens) / self.rate, 3))

    def notify(self) -> bool:
        """Whether a dropped message should be answered with a notice: the first of each window only, so that a
        flood does not make the gateway flood back."""
        now = self.clock()
        if now < self.notice_after:
            return False
        self.notice_after = now + self.window
        return True

    def message(self) -> str:
        dropped, self.dropped = self.dropped, 0
        return (f"Expected at most {self.rate:g} messages a second, in bursts of at most {self.burst} (WS_MAX_RATE, "
                f"WS_BURST), got more: dropped {dropped} since the last notice (this notice comes at most once every "
                f"{self.window:g} s)")
