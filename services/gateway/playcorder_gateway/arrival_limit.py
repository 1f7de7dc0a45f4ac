"""How many arrivals a gateway enrolls at once (arrivals to one campaign take turns on its lock anyway), and how
fast one client address may enroll (ENROLL_RATE a minute, in bursts of ENROLL_BURST): each arrival makes a
participant and takes a place in a quota, so one client must not fill a campaign with made-up ids. Counted by each
gateway for itself, in memory, for the most recent TRACKED_ADDRESSES addresses. Behind a proxy the address is the
client's only when the gateway trusts the proxy's X-Forwarded-For (uvicorn's --forwarded-allow-ips, the chart's
gateway.forwardedAllowIps)."""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .enrollment import ArrivalError
from .ratelimit import TokenBucket

TRACKED_ADDRESSES = 10_000


class ArrivalLimit:
    def __init__(self, per_minute: float, burst: int, concurrency: int = 4) -> None:
        self.per_minute, self.burst = per_minute, burst
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        # Enrollments of one campaign take turns (its row's lock) across gateways: more of them at once would only
        # hold database connections while they wait, and starve the other requests of the pool.
        self._turns = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._turns:
            yield

    def take(self, address: str) -> None:
        """Count an arrival from `address`; 429 (with Retry-After) beyond its rate."""
        bucket = self._buckets.pop(address, None) or TokenBucket(self.per_minute / 60.0, self.burst)
        self._buckets[address] = bucket
        while len(self._buckets) > TRACKED_ADDRESSES:
            self._buckets.popitem(last=False)
        if not bucket.take():
            wait = max(1, math.ceil((1 - bucket.tokens) / bucket.rate))
            error = ArrivalError(429, "rate_limited", f"Expected at most {self.per_minute:g} arrivals a minute from "
                                                      f"one address, got more: retry in {wait} s")
            error.headers = {"Retry-After": str(wait)}
            raise error
