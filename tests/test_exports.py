"""Exports through the running services, as a designer makes them: by filter or ids, with options, in every
format, as a ZIP or a directory tree, downloaded through presigned links and loaded with each format's own library."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from playcorder.devstack.services import ServiceProcess
from playcorder.sdk import ApiError, Client
from tests import tensorflow_side
from tests.conftest import Services
from tests.factories import study
from tests.stored import stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
STEPS = 12  # actions per episode


async def play(client: Client, token: str, env: str, actions: int) -> str:
    player = await Player.join(client.url, token, env)
    started = await player.until("episode_started")
    for i in range(actions):
        await player.send(type="action", action=i % 2)
        await player.until("frame")
    await player.send(type="end_episode", save=True)
    await player.until("episode_ended")
    await player.close()
    return started["episode_id"]


@pytest.fixture(scope="module")
def recorded(client: Client) -> dict[str, Any]:
    """Four Pong episodes (one tagged "good", one with step 5 tagged "stop") and a CartPole one."""
    created = client.create_study(study({"id": "pong", "env_id": "ALE/Pong-v5", "mode": "turn_based", "fps": 20},
                                        {"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based"},
                                        name="exports"))
    token = client.create_participant(created["id"])["token"]

    async def session() -> list[str]:
        return [await play(client, token, "pong", STEPS) for _ in range(4)] + [await play(client, token, "cartpole", 3)]

    ids = asyncio.run(session())
    for eid in ids:
        stored_episode(client, eid)
    client.add_tag(ids[0], "good")
    client.add_tag(ids[1], "stop", step=5)
    return {"study": created["id"], "pong": ids[:4], "cartpole": ids[4]}


def cli(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, f"playcorder {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def test_rlds_export_with_options_from_the_cli(cli_env: dict[str, str], recorded: dict[str, Any],
                                               tmp_path: Path) -> None:
    export = cli(cli_env, "export", "--study", recorded["study"], "--env", "pong", "--keep-metadata",
                 "--end-tag", "stop", "--test-split", "0.25", "--name", "pong_set", "--version", "1.1.0",
                 "--download", str(tmp_path), "--json")
    assert export["state"] == "done" and export["episodes"] == 4 and export["options"]["end_tags"] == ["stop"]
    root = tmp_path / "pong_set" / "1.1.0"
    info, train = tensorflow_side.load(root, "train")
    _, test = tensorflow_side.load(root, "test")
    assert (info["splits"]["train"]["num_examples"], info["splits"]["test"]["num_examples"]) == (3, 1)
    episodes = {e["episode_id"].decode(): e for e in train + test}
    assert set(episodes) == set(recorded["pong"])
    cut = episodes[recorded["pong"][1]]["steps"]
    assert len(cut) == 6 and cut[-1]["is_last"] and not cut[-1]["is_terminal"] and cut[-1]["tag:stop"]
    whole = episodes[recorded["pong"][2]]["steps"]
    assert len(whole) == STEPS + 1 and not any(s["tag:stop"] for s in whole)
    assert [t.decode() for t in episodes[recorded["pong"][0]]["tags"]] == ["good"]
    assert whole[0]["image"].shape == (210, 160, 3) and json.loads(whole[1]["input"]) == {"explicit": True}
    assert int(episodes[recorded["pong"][1]]["num_steps"]) == 6


def test_export_by_tag_as_a_tree(client: Client, recorded: dict[str, Any], tmp_path: Path) -> None:
    export = client.create_export(recorded["study"], filter={"tags": ["good"]}, archive=False)
    export = client.wait_export(export["id"], timeout=120)
    assert export["state"] == "done" and export["episodes"] == 1 and export["url"] is None
    paths = {f["path"] for f in export["files"]}
    assert any(p.endswith("dataset_info.json") for p in paths) and all(f["url"] for f in export["files"])
    files = client.download_export(export, tmp_path)
    assert sorted(f.relative_to(tmp_path).as_posix() for f in files) == sorted(paths)
    _, loaded = tensorflow_side.load(next(tmp_path.rglob("dataset_info.json")).parent)
    assert [e["episode_id"].decode() for e in loaded] == [recorded["pong"][0]]
    assert "image" not in loaded[0]["steps"][0]  # internal metadata stripped by default


@pytest.mark.parametrize("body,expected", [
    ({"episode_ids": ["x"], "filter": {}}, "Expected episode_ids or filter, got both"),
    ({"format": "hdf5"}, "format"),
    ({"version": "1.0"}, "Expected a version like '1.0.0', got '1.0'"),
    ({"name": "My Set"}, "Expected a dataset name of lowercase letters"),
    ({"test_split": 1.0}, "test_split"),
    ({"filter": {"states": ["won"]}}, "states"),
    ({"filter": {"env": "pong", "tags": ["nowhere"]}}, "none of study"),
    ({"filter": {"states": ["completed"]}}, "Expected episodes of one environment"),
    ({"episode_ids": []}, "Expected at least one episode id, got []"),
])
def test_bad_export_requests_are_explained(client: Client, recorded: dict[str, Any], body: dict, expected: str) -> None:
    with pytest.raises(ApiError) as err:
        client._call("POST", f"/api/studies/{recorded['study']}/exports", json=body)
    assert err.value.status == 422 and expected in json.dumps(err.value.detail), err.value.detail


def test_exports_are_listed_with_their_links(client: Client, recorded: dict[str, Any]) -> None:
    exports = client.list_exports(recorded["study"])
    assert len(exports) >= 2 and all(e["state"] in ("queued", "running", "done") for e in exports)
    done = [e for e in exports if e["state"] == "done"]
    assert done and all(e["url"] or e["files"] for e in done)


@pytest.fixture(scope="module")
def lone_gateway(services: Services, designer_token: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A gateway on the suite's database and S3 but on NATS subjects no exporter listens to."""
    env = services.env | {"NATS_SUBJECT_PREFIX": "pclone", "NATS_STREAM_PREFIX": "PCLONE"}
    gateway = ServiceProcess("gateway", env, tmp_path_factory.mktemp("lone-logs"), name="gateway-lone")
    gateway.start()
    try:
        gateway.wait_ready()
        yield Client(gateway.url, designer_token)
    finally:
        gateway.stop()


def _forged(url: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    signature = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_links_are_signed_without_an_exporter(client: Client, recorded: dict[str, Any], lone_gateway: Client) -> None:
    zipped = client.create_export(recorded["study"], episode_ids=[recorded["cartpole"]])
    tree = client.create_export(recorded["study"], episode_ids=[recorded["cartpole"]], archive=False)
    zipped, tree = client.wait_export(zipped["id"], timeout=120), client.wait_export(tree["id"], timeout=120)
    assert zipped["state"] == tree["state"] == "done"

    listed = {e["id"]: e for e in lone_gateway.list_exports(recorded["study"])}
    url, files = listed[zipped["id"]]["url"], listed[tree["id"]]["files"]
    assert url and files and lone_gateway.get_export(tree["id"])["files"]
    assert httpx.get(url).content == httpx.get(zipped["url"]).content != b""
    assert all(httpx.get(f["url"]).status_code == 200 for f in files)
    assert httpx.get(_forged(url)).status_code == 403
    assert httpx.get(_forged(files[0]["url"])).status_code == 403


def _load_envlogger(root: Path) -> dict[str, int]:
    from playcorder_exporter.datasets.formats.envlogger_format import load_envlogger

    envlogger = load_envlogger()
    out = {}
    for split in ("train", "test"):
        if (root / split).exists():
            with envlogger.Reader(str(root / split)) as reader:
                for episode, meta in zip(reader.episodes, reader.episode_metadata(), strict=True):
                    out[meta["episode_id"]] = len(episode)
    return out


def _load_minari(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    out = {}
    for dataset_dir in (root / "playcorder").iterdir():
        if dataset_dir.is_dir():
            dataset = minari.load_dataset(f"playcorder/{dataset_dir.name}")
            metadata = dataset.storage.get_episode_metadata(range(dataset.total_episodes))
            for meta, episode in zip(metadata, dataset, strict=True):
                out[str(meta["episode_id"])] = len(episode.observations)
    return out


def _load_lerobot(root: Path) -> dict[str, int]:
    import av
    import pyarrow.parquet as pq

    info = json.loads((root / "meta" / "info.json").read_text())
    episodes = pq.read_table(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    frames = pq.read_table(root / "data" / "chunk-000" / "file-000.parquet")
    assert info["codebase_version"] == "v3.0" and frames.num_rows == info["total_frames"]
    key = "observation.image"
    video = root / info["video_path"].format(video_key=key, chunk_index=0, file_index=0)
    with av.open(str(video)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == info["total_frames"]
    return {e["episode_id"]: e["length"] for e in episodes}


@pytest.mark.parametrize("fmt", ["envlogger", "minari", "lerobot"])
def test_every_format_through_the_service(client: Client, recorded: dict[str, Any], tmp_path: Path, fmt: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    export = client.create_export(recorded["study"], filter={"env": "pong"}, format=fmt, test_split=0.25)
    export = client.wait_export(export["id"], timeout=300)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    loaded = {"envlogger": lambda: _load_envlogger(tmp_path), "minari": lambda: _load_minari(tmp_path, monkeypatch),
              "lerobot": lambda: _load_lerobot(tmp_path)}[fmt]()
    # every format holds each Pong episode, with its final observation: STEPS actions, STEPS + 1 observations
    assert loaded == {eid: STEPS + 1 for eid in recorded["pong"]}
