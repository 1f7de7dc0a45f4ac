"""Keeps this worker's pod annotated with `controller.kubernetes.io/pod-deletion-cost` = its running sessions, so a
scale-down removes the emptiest pods first. A merge-patch of our own pod through the Kubernetes API, sent only when
the count changed, at most once per POD_DELETION_COST_INTERVAL (and always once the count has settled), in a task
of its own: a slow or absent API server never delays play; failures are logged once and retried with backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .settings import Settings

log = logging.getLogger(__name__)
ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
INT32_MAX = 2**31 - 1
LOWEST = -INT32_MAX - 1
LONGEST_BACKOFF_S = 30.0


def patch_body(cost: int) -> bytes:
    cost = max(LOWEST, min(INT32_MAX, cost))  # the annotation is an int32
    return json.dumps({"metadata": {"annotations": {ANNOTATION: str(cost)}}}).encode()


class DeletionCost:
    def __init__(self, settings: Settings, cost: Callable[[], int]) -> None:
        self.settings, self.cost = settings, cost
        self.sent: int | None = None  # the value the API server last accepted
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.pod_deletion_cost

    def start(self) -> None:
        if not self.enabled:
            return
        s = self.settings
        verify: ssl.SSLContext | bool = True
        if s.kubernetes_ca_file is not None and s.kubernetes_ca_file.exists():
            verify = ssl.create_default_context(cafile=str(s.kubernetes_ca_file))
        self._client = httpx.AsyncClient(base_url=s.kubernetes_api_url, verify=verify,
                                         timeout=httpx.Timeout(s.pod_deletion_cost_timeout))
        self._task = asyncio.create_task(self._run())
        self.changed()

    def changed(self) -> None:
        """The session count may have changed (cheap: the task decides whether to patch)."""
        if self._task is not None:
            self._changed.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        interval = self.settings.pod_deletion_cost_interval
        last = -interval
        failures = 0
        while True:
            await self._changed.wait()
            await asyncio.sleep(max(0.0, last + interval - time.monotonic()))  # rate limit; the count settles
            self._changed.clear()
            value = self.cost()
            if value == self.sent:
                continue
            last = time.monotonic()
            try:
                await self._patch(value)
            except (httpx.HTTPError, OSError, RuntimeError) as err:
                failures += 1
                if failures == 1:
                    log.warning("pod-deletion-cost: could not annotate pod %s/%s (%s); retrying with backoff",
                                self.settings.pod_namespace, self.settings.pod_name, err)
                await asyncio.sleep(min(LONGEST_BACKOFF_S, interval * 2 ** (failures - 1)))
                self._changed.set()
                continue
            if failures:
                log.info("pod-deletion-cost: the Kubernetes API answers again (after %d failures)", failures)
            failures = 0
            self.sent = value

    async def _patch(self, value: int) -> None:
        s = self.settings
        assert self._client is not None
        token = await asyncio.to_thread(Path(s.kubernetes_token_file).read_text)  # tokens rotate: read each time
        response = await self._client.patch(
            f"/api/v1/namespaces/{s.pod_namespace}/pods/{s.pod_name}", content=patch_body(value),
            headers={"Authorization": f"Bearer {token.strip()}", "Content-Type": "application/merge-patch+json"})
        if response.status_code >= 300:
            raise RuntimeError(f"Expected 200 from PATCH of the pod, got {response.status_code}: "
                               f"{response.text[:200]}")
