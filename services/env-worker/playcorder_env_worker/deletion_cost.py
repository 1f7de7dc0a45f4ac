"""The pod's deletion cost, kept at the worker's session count: when Kubernetes scales the env-worker Deployment
down, it removes the pods with the lowest `controller.kubernetes.io/pod-deletion-cost` first, so the emptiest
workers go and the fewest players are moved (a worker told to stop drains, draining.py).

On when POD_DELETION_COST is true and POD_NAME/POD_NAMESPACE name the pod (the chart sets them from the downward
API, with a Role allowing get/patch on pods). The worker says what the cost should be (`want`, from its load, which
it computes at every heartbeat and placement); one task sends it to the API server as a merge patch of the pod's
annotations, only when it changed, at most once per `min_interval`, always ending on the settled value. A failure
(API server down, no permission) is logged once, retried with backoff, and never reaches play."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
INT32_MAX = 2**31 - 1


def in_cluster_api() -> str:
    """The API server's URL as Kubernetes tells a pod ('' outside a cluster)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        return ""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class DeletionCost:
    def __init__(self, api_url: str, namespace: str, pod: str, token_path: Path, ca_path: Path | None,
                 min_interval: float = 2.0, max_backoff: float = 60.0, timeout: float = 5.0) -> None:
        self.url = f"{api_url.rstrip('/')}/api/v1/namespaces/{namespace}/pods/{pod}"
        self.token_path, self.ca_path = token_path, ca_path
        self.min_interval, self.max_backoff, self.timeout = min_interval, max_backoff, timeout
        self.wanted: int | None = None
        self.sent: int | None = None
        self.patches = 0  # sent successfully (tests, metrics)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def want(self, sessions: int) -> None:
        """The cost should now be this many sessions (cheap: called on every heartbeat)."""
        cost = max(0, min(sessions, INT32_MAX))
        if cost != self.wanted:
            self.wanted = cost
            self._changed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _client(self) -> httpx.AsyncClient:
        verify: ssl.SSLContext | bool = True
        if self.ca_path is not None and self.ca_path.is_file():
            verify = ssl.create_default_context(cafile=str(self.ca_path))
        return httpx.AsyncClient(verify=verify, timeout=self.timeout)

    async def _run(self) -> None:
        backoff = self.min_interval
        async with self._client() as client:
            while True:
                await self._changed.wait()
                self._changed.clear()
                cost = self.wanted
                if cost is None or cost == self.sent:
                    continue
                try:
                    await self._patch(client, cost)
                except (httpx.HTTPError, OSError, PatchRefused) as err:
                    if not self._failing:
                        log.warning("cannot set the pod's deletion cost (%s); retrying with backoff", err)
                        self._failing = True
                    self._changed.set()  # try again after the backoff
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                if self._failing:
                    log.info("the pod's deletion cost is set again (%d)", cost)
                    self._failing = False
                self.sent, backoff = cost, self.min_interval
                self.patches += 1
                await asyncio.sleep(self.min_interval)  # a burst of changes becomes one patch of where it settled

    async def _patch(self, client: httpx.AsyncClient, cost: int) -> None:
        token = await asyncio.to_thread(self.token_path.read_text)  # the kubelet rotates it: read it each time
        response = await client.patch(
            self.url, json={"metadata": {"annotations": {ANNOTATION: str(cost)}}},
            headers={"Authorization": f"Bearer {token.strip()}", "Content-Type": "application/merge-patch+json"})
        if response.status_code >= 300:
            raise PatchRefused(f"Expected 200 from PATCH {self.url}, got {response.status_code}: "
                               f"{response.text[:200]}")


class PatchRefused(Exception):
    """The API server answered the patch with an error (no permission, no such pod)."""


def deletion_cost(settings: Settings) -> DeletionCost | None:
    """The keeper of this pod's deletion cost, or None when POD_DELETION_COST is off."""
    if not settings.pod_deletion_cost:
        return None
    api = settings.kube_api_url or in_cluster_api()
    if not api:
        log.warning("POD_DELETION_COST is on but no API server is known (KUBE_API_URL, KUBERNETES_SERVICE_HOST); "
                    "the pod's deletion cost is not kept")
        return None
    ca = Path(settings.kube_ca_path) if settings.kube_ca_path else None
    return DeletionCost(api, settings.pod_namespace, settings.pod_name, Path(settings.kube_token_path), ca,
                        min_interval=settings.deletion_cost_interval)
