"""REST client of the gateway API."""

from __future__ import annotations

import itertools
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import httpx

from .episodes import Episodes
from .preferences import PreferenceCalls

if TYPE_CHECKING:
    from ..processing import Trajectory
    from ..records import Step

MAX_PAGE = 1000  # items the gateway answers in one page at most

def _step_path(step: int | None) -> str:
    return "" if step is None else f"/steps/{step}"


@dataclass(frozen=True)
class FieldError:
    """One entry of a 422's validation detail: where in the request (`loc`, FastAPI's) and what is wrong."""

    loc: tuple[str | int, ...]
    msg: str
    type: str
    suggestions: tuple[str, ...] = ()  # what was probably meant (a trial of the environments suggests ids, names)


@dataclass(frozen=True)
class Page:
    """One page of a list: its items, and the cursor of the next page (None on the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class ApiError(Exception):
    def __init__(self, status: int, detail: Any, code: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.code = status, detail, code

    @property
    def field_errors(self) -> list[FieldError]:
        """The validation errors of a 422 from FastAPI/pydantic; empty when the detail is a plain message."""
        if not isinstance(self.detail, list):
            return []
        return [FieldError(tuple(d.get("loc", ())), str(d.get("msg", "")), str(d.get("type", "")),
                           tuple(str(s) for s in d.get("suggestions") or () if isinstance(s, str | int)))
                for d in self.detail if isinstance(d, dict)]


class Client(PreferenceCalls):
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            code = None
            try:
                body = response.json()
                detail, code = body.get("detail", response.text), body.get("code")
            except (ValueError, AttributeError):
                detail = response.text
            raise ApiError(response.status_code, detail, code if isinstance(code, str) else None)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        return response.json() if response.content else None

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call the gateway answers with a JSON object."""
        return cast(dict[str, Any], self._call(method, path, **kwargs))

    def page(self, path: str, limit: int | None = None, cursor: str | None = None, **params: Any) -> Page:
        """One page of the list at `path` (e.g. "/api/studies"): at most `limit` items (the gateway's default 100,
        at most 1000) after `cursor` (a previous page's next_cursor); `params` are the list's filters."""
        given = {k: v for k, v in {**params, "limit": limit, "cursor": cursor}.items() if v is not None}
        body = self._object("GET", path, params=given)
        return Page(cast(list[dict[str, Any]], body["items"]), body.get("next_cursor"))

    def iter_items(self, path: str, limit: int | None = None, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of the list at `path`, page after page (`limit` items per request)."""
        current = self.page(path, limit, **params)
        params.pop("offset", None)  # it applies once, before the first page
        while True:
            yield from current.items
            if current.next_cursor is None:
                return
            current = self.page(path, limit, current.next_cursor, **params)

    def _objects(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """All items of a paginated list, following its cursors."""
        return list(self.iter_items(path, **params))

    # ---------------------------------------------------------------- studies
    def create_study(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The study, once an env-worker has tried each of its environments (a 422 ApiError names each problem)."""
        return self._object("POST", "/api/studies", json=spec)

    def try_study(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """What trying each environment of `spec` found (problems, spaces, a base64 JPEG preview); saves nothing."""
        environments: list[dict[str, Any]] = self._object("POST", "/api/studies/trial", json=spec)["environments"]
        return environments

    def list_studies(self, limit: int | None = None, archived: bool = False) -> list[dict[str, Any]]:
        """All your studies not archived, or only the archived ones (`limit`: per request)."""
        return self._objects("/api/studies", limit=limit, archived=archived)

    def get_study(self, study_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/studies/{study_id}")

    def update_study(self, study_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace the study's spec: a new version when it differs from the current one."""
        return self._object("PUT", f"/api/studies/{study_id}", json=spec)

    def set_study(self, study_id: str, enabled: bool | None = None, archived: bool | None = None,
                  disabled_environments: list[str] | None = None) -> dict[str, Any]:
        """Enable or disable the study or some of its environments (by key), archive or unarchive it."""
        body = {"enabled": enabled, "archived": archived, "disabled_environments": disabled_environments}
        return self._object("PATCH", f"/api/studies/{study_id}", json={k: v for k, v in body.items() if v is not None})

    def delete_study(self, study_id: str) -> None:
        """Delete a study without episodes (one with episodes: archive it)."""
        self._call("DELETE", f"/api/studies/{study_id}")

    def list_study_versions(self, study_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        return self._objects(f"/api/studies/{study_id}/versions", limit=limit)

    def get_study_version(self, study_id: str, version: int) -> dict[str, Any]:
        return self._object("GET", f"/api/studies/{study_id}/versions/{version}")

    def create_participant(self, study_id: str, external_id: str | None = None,
                           expires_in: int | None = None) -> dict[str, Any]:
        body = {"external_id": external_id} | ({"expires_in": expires_in} if expires_in is not None else {})
        return self._object("POST", f"/api/studies/{study_id}/participants", json=body)

    def revoke_participant(self, participant_id: str) -> dict[str, Any]:
        """Revoke the participant's play tokens and end their live sessions."""
        return self._object("POST", f"/api/participants/{participant_id}/revoke")

    # ---------------------------------------------------------------- campaigns
    def create_campaign(self, study_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A crowd campaign of the study (playcorder.campaigns.CampaignSpec); participants arrive at its `link`."""
        return self._object("POST", f"/api/studies/{study_id}/campaigns", json=spec)

    def list_campaigns(self, study_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/api/studies/{study_id}/campaigns"))

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/campaigns/{campaign_id}")

    def update_campaign(self, campaign_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self._object("PUT", f"/api/campaigns/{campaign_id}", json=spec)

    def close_campaign(self, campaign_id: str) -> dict[str, Any]:
        """No one new is enrolled; those enrolled may finish."""
        return self._object("POST", f"/api/campaigns/{campaign_id}/close")

    def campaign_participants(self, campaign_id: str) -> list[dict[str, Any]]:
        """Each participant's condition, stage, statistics, completion and bonus."""
        return list(self._call("GET", f"/api/campaigns/{campaign_id}/participants"))

    def campaign_dashboard(self, campaign_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/campaigns/{campaign_id}/dashboard")

    def campaign_bonuses(self, campaign_id: str) -> str:
        """The bonus table as CSV, in the format the campaign's platform takes."""
        return self._request("GET", f"/api/campaigns/{campaign_id}/bonuses.csv").text

    def enroll(self, campaign_id: str, params: dict[str, str]) -> dict[str, Any]:
        """Arrive as a participant with the channel's URL parameters (no designer token needed): a play token and
        the participant's progress."""
        return self._object("POST", f"/api/c/{campaign_id}/enroll", json={"params": params})

    # ---------------------------------------------------------------- episodes
    def list_episodes(self, study_id: str, **filters: Any) -> list[dict[str, Any]]:
        """All of a study's episodes matching the filters (env, state, participant, tag, started_after,
        started_before, min_reward, max_reward, version, campaign, condition, channel, game_id, agent, where, sort;
        `limit`: per request). `episodes()` is the same query with a friendlier signature."""
        return self._objects(f"/api/studies/{study_id}/episodes", **filters)

    def episodes(self, study_id: str, *, campaign: str | None = None, condition: str | None = None,
                 channel: str | None = None, participant: str | None = None, state: str | list[str] | None = None,
                 tags: str | list[str] | None = None, where: str | list[str] | None = None, sort: str | None = None,
                 limit: int | None = None, page_size: int = MAX_PAGE, **filters: Any) -> Episodes:
        """A study's episodes matching every criterion, read a page at a time as the result is iterated.

        `where`: comparisons that must all hold, "<name> <op> <number>" (op: >=, <=, >, <, ==, !=), name a key of
        the episodes' statistics (score, steps, active_minutes, custom ones) or total_reward, num_steps, active_s;
        e.g. where=["score >= 50", "active_minutes > 5"]. `sort`: started_at (the default), total_reward, num_steps,
        active_s or a statistic, "-" first for descending ("-score": the best first; episodes without it last).
        `state`, `tags` (all of them), `where`: one value or a list. `limit`: at most this many episodes in all.
        `filters`: env, version, started_after, started_before, min_reward, max_reward, game_id (the episodes of
        one multi-agent game, one per agent), agent (one agent's episodes of multi-agent games); who controlled
        an agent is in the statistics human_steps, ai_steps, none_steps, late_steps (where=["ai_steps > 0"]).
        The result iterates as records (dicts, as the API answers) and has `.to_dataframe()`."""
        def listed(value: str | list[str] | None) -> list[str] | None:
            return [value] if isinstance(value, str) else value

        params = {"campaign": campaign, "condition": condition, "channel": channel, "participant": participant,
                  "state": listed(state), "tag": listed(tags), "where": listed(where), "sort": sort, **filters}
        size = min(page_size, limit) if limit else page_size
        items = self.iter_items(f"/api/studies/{study_id}/episodes", size, **params)
        return Episodes(items if limit is None else itertools.islice(items, limit))

    def get_episode(self, episode_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/episodes/{episode_id}")

    def get_steps(self, episode_id: str, start: int = 0, stop: int | None = None,
                  images: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"start": start, "images": images}
        if stop is not None:
            params["stop"] = stop
        return self._object("GET", f"/api/episodes/{episode_id}/steps", params=params)

    def episode_chunks(self, episode_id: str) -> list[dict[str, Any]]:
        """Every stored step chunk of the episode, in order: seq, first_step, num_steps, nbytes."""
        chunks: list[dict[str, Any]] = []
        while True:
            start = chunks[-1]["first_step"] + chunks[-1]["num_steps"] if chunks else 0
            page = self._object("GET", f"/api/episodes/{episode_id}/chunks", params={"start": start})["chunks"]
            if not page:
                return chunks
            chunks += page

    def read_chunk(self, episode_id: str, seq: int) -> bytes:
        """One stored chunk as recorded (playcorder.records.decode_chunk reads it with the episode's specs)."""
        return self._request("GET", f"/api/episodes/{episode_id}/chunks/{seq}").content

    def recorded_steps(self, episode_id: str) -> Iterator[Step]:
        """Every stored step of the episode, whole: observation and action as numpy arrays of their spaces, reward,
        flags, the image shown (JPEG), input and info (playcorder.records.Step), fetched a chunk at a time."""
        yield from self._recorded_steps(self.get_episode(episode_id))

    def _recorded_steps(self, episode: dict[str, Any]) -> Iterator[Step]:
        from ..records import decode_chunk

        for chunk in self.episode_chunks(episode["id"]):
            _, steps = decode_chunk(self.read_chunk(episode["id"], chunk["seq"]), episode["observation_spec"],
                                    episode["action_spec"])
            yield from steps

    def processed_trajectory(self, episode_id: str, frame_skip: int = 4, max_pool: int = 2, grayscale: bool = True,
                             size: tuple[int, int] | None = (84, 84), stack: int = 4,
                             source: str = "observation") -> Trajectory:
        """The episode as CrowdPlay's processed trajectory, for offline RL (playcorder.processing): each row the
        pixel-wise max of `max_pool` frames, every `frame_skip`-th recorded step, grayscale, resized to `size`
        (height, width; area interpolation), `stack` frames stacked on axis 0 (oldest first); the action at the
        first frame of each skip, rewards summed over it; terminals, or timeouts on a final-observation row.
        Returns (observations, actions, rewards, terminals, timeouts), d3rlpy's order:
        `d3rlpy.dataset.MDPDataset(*trajectory, action_size=...)`. Frames are the observations, or with
        source="image" the JPEG shown. Needs OpenCV: pip install 'playcorder[processing]'."""
        from ..processing import ProcessingOptions, limits, observation_shape, rows, trajectory

        options = ProcessingOptions.model_validate({"frame_skip": frame_skip, "max_pool": max_pool,
                                                    "grayscale": grayscale, "size": size, "stack": stack,
                                                    "source": source})
        episode = self.get_episode(episode_id)
        specs = episode["observation_spec"], episode["action_spec"]
        if reason := limits(*specs, options):
            raise ValueError(f"Expected an episode whose frames can be processed, got episode {episode_id}: {reason}")
        processed = rows(self._recorded_steps(episode), specs[1], options)
        return trajectory(processed, specs[1], observation_shape(specs[0], options) or ())

    def episode_image(self, episode_id: str, step: int | None = None) -> bytes:
        """The JPEG shown at `step`; without one, the episode's thumbnail (its middle step's)."""
        path = "/thumbnail.jpg" if step is None else f"/steps/{step}/image.jpg"
        return self._request("GET", f"/api/episodes/{episode_id}{path}").content

    def edit_notes(self, episode_id: str, notes: str) -> dict[str, Any]:
        return self._object("PATCH", f"/api/episodes/{episode_id}", json={"notes": notes})

    def delete_episode(self, episode_id: str) -> None:
        self._call("DELETE", f"/api/episodes/{episode_id}")

    def add_tag(self, episode_id: str, label: str, step: int | None = None) -> dict[str, Any]:
        """Tag the episode, or one of its steps."""
        return self._object("PUT", f"/api/episodes/{episode_id}{_step_path(step)}/tags/{quote(label, safe='')}")

    def remove_tag(self, episode_id: str, label: str, step: int | None = None) -> dict[str, Any]:
        return self._object("DELETE", f"/api/episodes/{episode_id}{_step_path(step)}/tags/{quote(label, safe='')}")

    # ---------------------------------------------------------------- sessions and participants
    def list_sessions(self, study_id: str, **filters: Any) -> list[dict[str, Any]]:
        """All of a study's sessions (filters: participant, env; `limit`: per request)."""
        return self._objects(f"/api/studies/{study_id}/sessions", **filters)

    def get_participant(self, participant_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/participants/{participant_id}")

    # ---------------------------------------------------------------- exports
    def create_export(self, study_id: str, episode_ids: list[str] | None = None, link_expiry: int | None = None,
                      filter: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        """Queue an export. options: format, keep_metadata, end_tags, archive, name, version, test_split (see
        playcorder.exports.ExportOptions); filter: env, states, participant, tags, started_after, ... ."""
        body = {"episode_ids": episode_ids, "filter": filter, "link_expiry": link_expiry, **options}
        given = {k: v for k, v in body.items() if v is not None}
        return self._object("POST", f"/api/studies/{study_id}/exports", json=given)

    def list_exports(self, study_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        return self._objects(f"/api/studies/{study_id}/exports", limit=limit)

    def get_export(self, export_id: str) -> dict[str, Any]:
        return self._object("GET", f"/api/exports/{export_id}")

    def wait_export(self, export_id: str, timeout: float = 600.0,
                    on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            export = self.get_export(export_id)
            if on_progress:
                on_progress(export)
            if export["state"] in ("done", "failed"):
                return export
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Expected export {export_id} to finish within {timeout:g} s, it is {export['state']}")
            time.sleep(0.25)

    def download_export(self, export: dict[str, Any], directory: Path,
                        on_bytes: Callable[[int], None] | None = None) -> list[Path]:
        """Fetch a finished export through its presigned links (no token needed) into `directory`: a ZIP is
        unpacked there, a tree's files keep their paths. Returns the files written; `on_bytes` hears of each
        block downloaded (its length)."""
        directory.mkdir(parents=True, exist_ok=True)
        if export.get("files"):
            links = [(f["path"], f["url"]) for f in export["files"]]
        else:
            links = [("export.zip", export["url"])]
        written = []
        with httpx.Client(timeout=None) as plain:  # presigned: no Authorization header
            for path, url in links:
                target = directory / path
                target.parent.mkdir(parents=True, exist_ok=True)
                with plain.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise ApiError(response.status_code, f"download of {path} refused: {response.read()[:200]!r}")
                    with open(target, "wb") as out:
                        for block in response.iter_bytes(1 << 20):
                            out.write(block)
                            if on_bytes:
                                on_bytes(len(block))
                written.append(target)
        if not export.get("files"):
            with zipfile.ZipFile(written[0]) as zf:
                zf.extractall(directory)
                written = [directory / n for n in zf.namelist() if not n.endswith("/")]
            (directory / "export.zip").unlink()
        return written
