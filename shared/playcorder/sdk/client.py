"""REST client of the gateway API."""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx


class ApiError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


class Client:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail)
        return response.json()

    # ---------------------------------------------------------------- studies
    def create_study(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/studies", json=spec)

    def list_studies(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/studies")

    def get_study(self, study_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/studies/{study_id}")

    def create_participant(self, study_id: str, external_id: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/api/studies/{study_id}/participants", json={"external_id": external_id})

    # ---------------------------------------------------------------- episodes
    def list_episodes(self, study_id: str, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        return self._call("GET", f"/api/studies/{study_id}/episodes", params=params)

    def get_episode(self, episode_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/episodes/{episode_id}")

    # ---------------------------------------------------------------- exports
    def create_export(self, study_id: str, episode_ids: list[str] | None = None, link_expiry: int | None = None) -> dict[str, Any]:
        body = {"episode_ids": episode_ids, "link_expiry": link_expiry}
        return self._call("POST", f"/api/studies/{study_id}/exports", json=body)

    def get_export(self, export_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/exports/{export_id}")

    def wait_export(self, export_id: str, timeout: float = 600.0, on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            export = self.get_export(export_id)
            if on_progress:
                on_progress(export)
            if export["state"] in ("done", "failed"):
                return export
            if time.monotonic() > deadline:
                raise TimeoutError(f"Expected export {export_id} to finish within {timeout:g} s, it is {export['state']}")
            time.sleep(0.25)
