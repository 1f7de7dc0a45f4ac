"""What a gateway lets through to its sign-in, before any database work: at most SIGNIN_CONCURRENCY sign-ins in
progress at once (beyond, 429 at once, so that a flood of sign-ins with made-up names cannot take the database
pool or every hashing thread from the designers already signed in), and at most SIGNIN_MAX_ADDRESS_FAILURES failed
sign-ins per client address within SIGNIN_WINDOW (so that one client cannot cheaply lock out every name; counted by
each gateway for itself, in memory)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status

from playcorder.passwords import VERIFY_SLOTS

TRACKED_ADDRESSES = 10_000  # client addresses whose failures are kept; the least recently failing are forgotten


def _too_many(detail: str, wait: int) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail, headers={"Retry-After": str(wait)})


class SigninGate:
    def __init__(self, concurrency: int, max_address_failures: int, window: float) -> None:
        self.concurrency, self.max_address_failures, self.window = concurrency, max_address_failures, window
        self.in_progress = 0
        # Sign-ins wait for a hashing slot here, on the event loop, rather than in a thread the hashing would block.
        self.hashing = asyncio.Semaphore(VERIFY_SLOTS)
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @contextmanager
    def admitted(self, address: str) -> Iterator[None]:
        """Hold one of the sign-ins in progress for the block; 429 when all are held or `address` failed too often."""
        if self.in_progress >= self.concurrency:
            raise _too_many(f"Expected at most {self.concurrency} sign-ins in progress at once, got more: retry "
                            "after 1 s", 1)
        if (wait := self._refused_for(address)) is not None:
            raise _too_many(f"Expected at most {self.max_address_failures} failed sign-ins from {address} within "
                            f"{self.window:g} s, got as many: try again in {wait} s", wait)
        self.in_progress += 1
        try:
            yield
        finally:
            self.in_progress -= 1

    def failed(self, address: str) -> None:
        times = self._failures.pop(address, None) or deque(maxlen=self.max_address_failures)
        times.append(time.monotonic())
        self._failures[address] = times  # now the most recently failing
        while len(self._failures) > TRACKED_ADDRESSES:
            self._failures.popitem(last=False)

    def _refused_for(self, address: str) -> int | None:
        times = self._failures.get(address)
        if times is None or len(times) < self.max_address_failures:
            return None
        left = times[0] + self.window - time.monotonic()  # the oldest of the last max_address_failures
        if left <= 0:
            return None
        return max(1, math.ceil(left))
