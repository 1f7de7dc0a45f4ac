"""The per-connection limit on client WebSocket messages: a token bucket, so a client may send a burst of `burst`
messages and then `rate` a second; beyond it messages are dropped, and the client is told at most once a window."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` messages a second in bursts of `burst`, and (when given) `byte_rate` bytes a second in bursts of
    `byte_burst`: many small messages and fewer large ones cost alike what they cost to read and check."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 byte_rate: float | None = None, byte_burst: int = 0) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.byte_rate, self.byte_burst = byte_rate, byte_burst
        self.tokens, self.updated = float(burst), clock()
        self.bytes = float(byte_burst)
        self.needed = 0  # bytes of the last message dropped for its size
        self.window = burst / rate  # seconds an empty bucket takes to fill up again
        self.notice_after = float("-inf")  # when the next rate_limited notice may go out
        self.dropped = 0  # messages dropped since the last notice

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        if self.byte_rate is not None:
            self.bytes = min(self.byte_burst, self.bytes + (now - self.updated) * self.byte_rate)
        self.updated = now

    def take(self) -> bool:
        """Whether one more message may pass now (and counts it)."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False

    def take_bytes(self, nbytes: int) -> bool:
        """Whether a message of `nbytes` (already counted by take) may be read now (and counts its bytes)."""
        if self.byte_rate is None:
            return True
        self._refill()
        if self.bytes >= nbytes:
            self.bytes -= nbytes
            return True
        self.dropped += 1
        self.needed = nbytes
        return False

    def retry_after(self) -> float:
        """Seconds until the next message would pass."""
        wait = (1 - self.tokens) / self.rate
        if self.byte_rate is not None:
            wait = max(wait, (self.needed - self.bytes) / self.byte_rate)
        return max(0.001, round(wait, 3))

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
        size = (f" and {self.byte_rate:g} bytes a second in bursts of {self.byte_burst} (WS_MAX_BYTE_RATE, "
                f"WS_BYTE_BURST)") if self.byte_rate is not None else ""
        return (f"Expected at most {self.rate:g} messages a second, in bursts of at most {self.burst} (WS_MAX_RATE, "
                f"WS_BURST){size}, got more: dropped {dropped} since the last notice (this notice comes at most once "
                f"every {self.window:g} s)")
