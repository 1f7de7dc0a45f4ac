"""Draining a worker (SIGTERM, as Kubernetes stops a pod): its players are told, may finish their episodes within
DRAIN_TIMEOUT, and are moved to another worker with a new episode on the same socket; newcomers go elsewhere;
what the drain cuts short is stored `interrupted` with every step played; a second SIGTERM cuts it short at once.

A stack of its own: gateway, recorder and two workers, "a" (drained, then started again) and "b".
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from playcorder.sdk.bot import play
from playcorder_env_worker.draining import maintenance
from playcorder_env_worker.settings import Settings as WorkerSettings
from tests.conftest import tenant
from tests.factories import cartpole_study, pong_study
from tests.stored import all_steps, stored_episode
from tests.webpage import Page
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
SHORT_DRAIN = 2.0  # worker a's DRAIN_TIMEOUT in the first test
EXIT_WITHIN_S = 15.0  # a drained worker exits this soon after its drain is over (a loaded test machine)


@dataclass
class Cluster:
    url: str
    client: Client
    workers: dict[str, ServiceProcess]
    env: dict[str, str]

    @property
    def worker_a(self) -> ServiceProcess:
        return self.workers["a"]

    @property
    def worker_b(self) -> ServiceProcess:
        return self.workers["b"]

    def restart(self, name: str, drain_timeout: float) -> ServiceProcess:
        """The worker again (same id), draining for `drain_timeout` seconds when told to stop."""
        worker = self.workers[name] = _worker(self.env, self.workers[name].log_path.parent, name, drain_timeout)
        worker.start()
        worker.wait_ready()
        return worker

    def all_running(self) -> None:
        """Each worker a previous test drained started again."""
        for name, worker in list(self.workers.items()):
            if worker.process is None or worker.process.poll() is not None:
                self.restart(name, SHORT_DRAIN)

    def restart_a(self, drain_timeout: float) -> ServiceProcess:
        return self.restart("a", drain_timeout)


def _worker(env: dict[str, str], logs: Any, name: str, drain_timeout: float) -> ServiceProcess:
    return ServiceProcess("env-worker", env | {"WORKER_ID": name, "DRAIN_TIMEOUT": f"{drain_timeout:g}"}, logs,
                          name=f"worker-drain-{name}")


@pytest.fixture(scope="module")
def cluster(stack, tmp_path_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    logs = tmp_path_factory.mktemp("drain-logs")
    own = tenant(stack, "drain")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcdrain", "NATS_STREAM_PREFIX": "PCDRAIN", "HEARTBEAT_INTERVAL": "0.3",
                     "CHUNK_MAX_AGE": "0.3", "WORKER_MAX_LATENESS": "1000", "WORKER_MAX_CPU": "100",
                     "LOG_LEVEL": "INFO"}
    workers = {name: _worker(env, logs, name, SHORT_DRAIN) for name in ("a", "b")}
    others = [ServiceProcess("gateway", env, logs, name="gateway-drain"),
              ServiceProcess("recorder", env, logs, name="recorder-drain")]
    cluster = Cluster(others[0].url, Client(others[0].url, own.designer_token), workers, env)
    try:
        start_all([*workers.values(), *others])
        yield cluster
    finally:
        stop_all([*cluster.workers.values(), *others])


async def _workers(client: Client) -> dict[str, dict[str, Any]]:
    return {w["worker_id"]: w for w in await asyncio.to_thread(client._call, "GET", "/api/workers")}


async def _both_workers_accepting(client: Client) -> None:
    for _ in range(200):
        workers = await _workers(client)
        if all(workers.get(w, {}).get("accepting") and not workers[w].get("draining") for w in ("a", "b")):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Expected workers a and b accepting, got {await _workers(client)}")


async def _players_on_a(url: str, client: Client, study_id: str, wanted: int) -> tuple[list[Player], list[Player]]:
    """Players joining until `wanted` of them play on worker a: (those on a, the others, on b)."""
    on_a: list[Player] = []
    on_b: list[Player] = []
    while len(on_a) < wanted:
        assert len(on_a) + len(on_b) < 4 * wanted + 4, "placement never chose worker a"
        player = await Player.join(url, client.create_participant(study_id)["token"], "cartpole")
        session = await player.until("session")
        await player.until("episode_started")
        (on_a if session["worker_id"] == "a" else on_b).append(player)
    return on_a, on_b


async def _steps(player: Player, actions: list[int]) -> None:
    for action in actions:
        await player.send(type="action", action=action)
        await player.until("frame")


def _exited(proc: ServiceProcess, within: float) -> int:
    assert proc.process is not None
    try:
        return proc.process.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"Expected worker a to exit within {within:g} s of its drain; see {proc.log_path}:\n"
                             f"{proc.tail()}") from None


def _stored_actions(client: Client, episode_id: str) -> list[Any]:
    return [s["action"] for s in all_steps(client, episode_id)]


async def test_a_drained_worker_tells_its_player_interrupts_the_episode_with_every_step_and_moves_it(
        cluster: Cluster) -> None:
    client = cluster.client
    await _both_workers_accepting(client)
    study = client.create_study(cartpole_study(max_episode_steps=10_000))
    (player,), bystanders = await _players_on_a(cluster.url, client, study["id"], 1)
    first = player.events[-1]["episode_id"]
    before, during = [0, 1, 0, 1, 0], [1, 0, 1]
    await _steps(player, before)

    cluster.worker_a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    termed = time.time()
    notice = await player.until("notice", timeout=10)
    assert notice["kind"] == "maintenance" and "your episode continues up to 2 seconds" in notice["message"]
    assert termed + SHORT_DRAIN - 1 <= notice["deadline"] <= termed + SHORT_DRAIN + 5, notice

    # a newcomer during the drain is placed on b, never on the draining a
    newcomer = await Player.join(cluster.url, client.create_participant(study["id"])["token"], "cartpole")
    assert (await newcomer.until("session"))["worker_id"] == "b"

    # the episode goes on during the drain, then ends interrupted: every step played is stored
    await _steps(player, during)
    ended = await player.until("episode_ended", timeout=SHORT_DRAIN + 10)
    assert (ended["episode_id"], ended["state"], ended["reason"]) == (first, "interrupted", "worker_draining")
    played = before + during
    assert ended["num_steps"] == len(played) + 1  # and the last observation, as a final step
    episode = await asyncio.to_thread(stored_episode, client, first)
    assert (episode["state"], episode["num_steps"]) == ("interrupted", len(played) + 1), episode
    stored = await asyncio.to_thread(_stored_actions, client, first)
    assert stored[:-1] == played

    # moved to b on the same socket: a new session, a new episode, played there
    moved = await player.until("session", timeout=10)
    assert moved["worker_id"] == "b" and moved["session_id"] != player.events[0]["session_id"]
    second = (await player.until("episode_started"))["episode_id"]
    assert second != first
    await _steps(player, [0, 1])
    assert not [e for e in player.events if e["type"] in ("error", "session_ended")], player.events
    for bystander in bystanders:  # on b: told nothing
        assert not [e for e in bystander.events if e["type"] == "notice"], bystander.events

    _exited(cluster.worker_a, EXIT_WITHIN_S)
    for p in (player, newcomer, *bystanders):
        await p.close()


async def test_an_episode_ended_in_the_drain_is_kept_the_next_starts_elsewhere_a_second_sigterm_ends_the_rest(
        cluster: Cluster) -> None:
    client = cluster.client
    worker_a = await asyncio.to_thread(cluster.restart_a, 120)
    await _both_workers_accepting(client)
    study = client.create_study(cartpole_study(max_episode_steps=10_000))
    (finisher, lingerer), bystanders = await _players_on_a(cluster.url, client, study["id"], 2)
    kept, cut = finisher.events[-1]["episode_id"], lingerer.events[-1]["episode_id"]
    await _steps(finisher, [0, 1, 0])
    await _steps(lingerer, [1, 0])

    assert worker_a.process is not None
    worker_a.process.send_signal(signal.SIGTERM)
    for p in (finisher, lingerer):
        assert "up to 2 minutes" in (await p.until("notice", timeout=10))["message"]

    # the finisher keeps its episode: completed as usual, and its next episode starts on b
    await finisher.send(type="end_episode", save=True)
    ended = await finisher.until("episode_ended")
    assert (ended["episode_id"], ended["state"], ended["reason"]) == (kept, "completed", "ended_by_participant")
    await finisher.send(type="new_episode")  # Enter, at once: the move starts it, on b (not two, one cancelled)
    assert (await finisher.until("session", timeout=10))["worker_id"] == "b"
    assert (await finisher.until("episode_started"))["episode_id"] != kept
    await _steps(finisher, [1])
    assert [e["type"] for e in finisher.events].count("episode_ended") == 1, finisher.events

    # the other plays on, on a, until a second SIGTERM ends its episode at once
    await _steps(lingerer, [1])
    assert worker_a.process.poll() is None
    worker_a.process.send_signal(signal.SIGTERM)
    ended = await lingerer.until("episode_ended", timeout=10)
    assert (ended["episode_id"], ended["state"], ended["num_steps"]) == (cut, "interrupted", 4)
    assert (await lingerer.until("session", timeout=10))["worker_id"] == "b"
    await lingerer.until("episode_started")
    _exited(worker_a, EXIT_WITHIN_S)

    completed = await asyncio.to_thread(stored_episode, client, kept)
    assert (completed["state"], completed["num_steps"]) == ("completed", 4)
    assert await asyncio.to_thread(_stored_actions, client, cut) == [1, 0, 1, 0]  # the last: a placeholder
    for p in (finisher, lingerer, *bystanders):
        await p.close()


async def test_the_web_player_shows_the_notice_and_plays_on_on_the_other_worker(cluster: Cluster,
                                                                            tmp_path: Path) -> None:
    client = cluster.client
    await asyncio.to_thread(cluster.all_running)
    await _both_workers_accepting(client)
    study = client.create_study(cartpole_study(id="live", mode="realtime", fps=15, max_episode_steps=10_000))
    page = Page(cluster.url, client.create_participant(study["id"])["token"], tmp_path / "node.log")
    try:
        first = await asyncio.to_thread(page.until, lambda p: p["status"].startswith("playing") and p["worker"])
        drained, other = first["worker"], "b" if first["worker"] == "a" else "a"
        cluster.workers[drained].process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        told = await asyncio.to_thread(page.until, lambda p: p["notice"] is not None, 10)
        assert "maintenance: your episode continues up to 2 seconds" in told["notice"]
        moved = await asyncio.to_thread(page.until, lambda p: p["worker"] == other, SHORT_DRAIN + 15)
        assert moved["status"].startswith("playing") and moved["notice"] is None
        assert moved["session"] != first["session"]
    finally:
        page.close()
    _exited(cluster.workers[drained], EXIT_WITHIN_S)


async def test_the_sdk_bot_plays_on_after_its_worker_drains(cluster: Cluster) -> None:
    """The bot, unchanged, asks for a new episode after the interrupted one: the gateway drops that (the move has
    started one), so the bot plays the new session's first episode and nothing is stored cancelled."""
    client = cluster.client
    await asyncio.to_thread(cluster.restart_a, 0)  # interrupted at once: the bot is mid-episode
    await asyncio.to_thread(cluster.all_running)
    await _both_workers_accepting(client)
    study = client.create_study(pong_study(max_episode_steps=10_000))
    holders = []  # one session on b, so that the bot is placed on the emptier a
    while not holders or (await _workers(client))["b"]["active"] < 1:
        holder = await Player.join(cluster.url, client.create_participant(study["id"])["token"], "pong")
        if (await holder.until("session"))["worker_id"] == "a":
            await holder.close()
        holders.append(holder)
    while (await _workers(client))["a"]["active"]:  # those on a gone
        await asyncio.sleep(0.1)
    participant = client.create_participant(study["id"])
    bot = asyncio.create_task(play(cluster.url, participant["token"], "pong", episodes=2, max_steps=300, seed=1))
    while not (await _workers(client))["a"]["active"]:
        assert not bot.done()
        await asyncio.sleep(0.05)
    cluster.worker_a.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    summary = await asyncio.wait_for(bot, 60)
    details = [(e["state"], e["reason"]) for e in summary.episode_details]
    assert details == [("interrupted", "worker_draining"), ("completed", "ended_by_participant")], details
    assert summary.reconnects == 0
    # stored: those two, nothing more (no episode started and cancelled by a new_episode sent during the move)
    for episode in summary.episode_details:
        stored_state = (await asyncio.to_thread(stored_episode, client, episode["episode_id"]))["state"]
        assert (stored_state, episode["num_steps"]) == (episode["state"], episode["num_steps"])
    stored = await asyncio.to_thread(client.list_episodes, study["id"], participant=participant["participant_id"])
    assert sorted(e["state"] for e in stored) == ["completed", "interrupted"], stored
    _exited(cluster.worker_a, EXIT_WITHIN_S)
    for holder in holders:
        await holder.close()


async def test_with_no_other_worker_the_moved_player_is_told_no_capacity_and_when_to_retry(cluster: Cluster) -> None:
    client = cluster.client
    worker_a = await asyncio.to_thread(cluster.restart_a, 0)
    await asyncio.to_thread(cluster.all_running)
    await _both_workers_accepting(client)
    study = client.create_study(cartpole_study(max_episode_steps=10_000))
    (player,), bystanders = await _players_on_a(cluster.url, client, study["id"], 1)
    for bystander in bystanders:
        await bystander.close()
    await asyncio.to_thread(cluster.worker_b.stop)  # b gone (it had no session left to drain)
    await _steps(player, [0, 1])

    assert worker_a.process is not None
    worker_a.process.send_signal(signal.SIGTERM)  # DRAIN_TIMEOUT=0: no notice, the episode ends now
    ended = await player.until("episode_ended", timeout=10)
    assert (ended["state"], ended["reason"], ended["num_steps"]) == ("interrupted", "worker_draining", 3)
    refused = await player.until("error", timeout=10)
    assert refused["code"] == "no_capacity" and refused["retry_after"] > 0, refused
    await player.ws.wait_closed()
    assert player.ws.close_code == 1013  # try again later: the web player retries after retry_after
    assert not [e for e in player.events if e["type"] in ("notice", "session_ended")], player.events
    _exited(worker_a, EXIT_WITHIN_S)
    assert (await asyncio.to_thread(stored_episode, client, ended["episode_id"]))["num_steps"] == 3


def test_drain_timeout_is_bounded() -> None:
    with pytest.raises(ValidationError, match="drain_timeout|DRAIN_TIMEOUT"):
        WorkerSettings(drain_timeout=-1)
    with pytest.raises(ValidationError):
        WorkerSettings(drain_timeout=100_000)
    assert WorkerSettings(drain_timeout=0).drain_timeout == 0


def test_the_maintenance_notice_says_how_long_in_words() -> None:
    notice = maintenance(300, now=1000.0)
    assert notice.deadline == 1300.0 and notice.message.startswith("maintenance: your episode continues up to "
                                                                   "5 minutes")
    assert "up to 45 seconds" in maintenance(45).message and "up to 1 second;" in maintenance(1).message
