"""The metadata engine on the real stack: a study's episodes filtered by campaign, condition, channel, participant,
state, tags and any statistic (`score >= 50`), sorted by a column or a statistic and walked page by page, hostile
queries refused with a 422 that says why, and the same query from the SDK (records, a DataFrame), the CLI and an
export. Episodes with statistics and campaigns are rows put straight into PostgreSQL (as the recorder would store
them); the export's are recorded by playing, since the exporter reads their steps."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.db.models import Campaign, Episode
from playcorder.devstack.stack import DevStack
from playcorder.episode_query import MAX_WHERE
from playcorder.sdk import ApiError, Client
from playcorder.sdk.episodes import EPISODE_FIELDS, Episodes
from tests.factories import cartpole_study, untried_study
from tests.stored import stored_episode
from tests.wsclient import Player

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _add(database_url: str, rows: list[Any]) -> None:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            for row in rows:
                db.add(row)
                await db.commit()  # one by one: a campaign before the episodes that name it
    finally:
        await engine.dispose()


async def _set_stats(database_url: str, stats: dict[str, dict[str, float]]) -> None:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            for eid, values in stats.items():
                episode = await db.get(Episode, eid)
                assert episode is not None
                episode.stats = values
                db.add(episode)
            await db.commit()
    finally:
        await engine.dispose()


def episode_row(study_id: str, n: int, **fields: Any) -> Episode:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex, "study_id": study_id, "session_id": f"s{n}", "participant_id": "p-alice",
        "env": "cartpole", "env_id": "CartPole-v1", "worker_id": "w", "seed": n, "state": "completed", "num_steps": n,
        "total_reward": float(n), "active_s": n / 2, "observation_spec": {}, "action_spec": {},
        "started_at": T0 + timedelta(seconds=n), "ended_at": T0 + timedelta(seconds=n + 1), **fields}
    return Episode(**values)


@pytest.fixture(scope="module")
def seeded(client: Client, stack: DevStack) -> dict[str, Any]:
    """A study with 30 episodes: scores with ties and gaps (some have none), other statistics, two campaigns on
    two channels, two conditions, two participants, a few cancelled, some tagged."""
    study_id = asyncio.run(untried_study(stack.database_url, client, cartpole_study()))
    owner = client._http.get("/api/me").raise_for_status().json()["id"]
    campaigns = {channel: Campaign(study_id=study_id, name=f"on {channel}", channel=channel, spec={},
                                   completion_code="C0DE", created_by=owner) for channel in ("prolific", "mturk")}
    rows = []
    for n in range(30):
        stats: dict[str, float] = {"steps": float(n), "active_minutes": round(n / 7, 3)}
        if n % 5:  # every fifth has no score
            stats["score"] = float((n * 37) % 11 * 10)  # 0..100 in steps of 10: ties
        if n % 3 == 0:
            stats["jumps"] = n / 3  # a custom statistic
        if n == 7:
            stats["seed"] = 1.5  # a statistic named like an episode field
        channel = ("prolific", "mturk", None)[n % 3]
        rows.append(episode_row(
            study_id, n, stats=stats, participant_id=("p-alice", "p-bob")[n % 2],
            state="cancelled" if n % 7 == 6 else "completed",
            campaign_id=campaigns[channel].id if channel else None,
            condition=None if channel is None else ("fast", "slow")[n % 4 // 2],
            # 20..23 start at one moment: ties in the start time too
            started_at=T0 + timedelta(seconds=20 if 20 <= n < 24 else n)))
    asyncio.run(_add(stack.database_url, [*campaigns.values(), *rows]))
    tagged = [r.id for r in rows if r.seed % 4 == 1]
    for eid in tagged:
        client.add_tag(eid, "good")
    by_id = {r.id: {"row": r, "channel": ("prolific", "mturk", None)[r.seed % 3], "tags": ["good"] if r.id in tagged
                    else []} for r in rows}
    return {"study": study_id, "episodes": by_id, "campaigns": {c: campaigns[c].id for c in campaigns}}


def ids(client: Client, study: str, **params: Any) -> set[str]:
    return {e["id"] for e in client.list_episodes(study, **params)}


def matching(seeded: dict[str, Any], keep: Callable[[dict[str, Any], Episode], bool]) -> set[str]:
    return {eid for eid, e in seeded["episodes"].items() if keep(e, e["row"])}


def stat(row: Episode, name: str) -> float | None:
    if name in ("total_reward", "num_steps", "active_s"):
        return float(getattr(row, name))
    value = row.stats.get(name)
    return None if value is None else float(value)


def test_filters_by_campaign_condition_channel_participant_state_and_tags(client: Client,
                                                                          seeded: dict[str, Any]) -> None:
    study, mturk = seeded["study"], seeded["campaigns"]["mturk"]
    assert ids(client, study) == set(seeded["episodes"])
    assert ids(client, study, campaign=mturk) == matching(seeded, lambda e, r: r.campaign_id == mturk)
    assert ids(client, study, channel="prolific") == matching(seeded, lambda e, r: e["channel"] == "prolific")
    assert ids(client, study, condition="slow") == matching(seeded, lambda e, r: r.condition == "slow")
    both = ids(client, study, channel="mturk", condition="fast", participant="p-bob", state="completed", tag="good")
    assert both == matching(seeded, lambda e, r: e["channel"] == "mturk" and r.condition == "fast" and
                            r.participant_id == "p-bob" and r.state == "completed" and e["tags"] == ["good"])
    assert both  # the seeding makes some of each
    assert ids(client, study, campaign=uuid.uuid4().hex) == set()
    listed = {e["id"]: e for e in client.list_episodes(study, campaign=mturk)}
    some = next(iter(listed.values()))
    row = seeded["episodes"][some["id"]]["row"]
    assert (some["campaign_id"], some["condition"], some["stats"]) == (mturk, row.condition, row.stats)


@pytest.mark.parametrize("where", [
    ["score >= 50"], ["score>50"], ["score < 30"], ["score == 40"], ["score != 40"], ["active_minutes > 2.5"],
    ["jumps <= 4", "score >= 10"], ["total_reward >= 12", "num_steps < 20", "active_s > 7"], ["steps == -1"],
    ["nothing_like_it > 0"], ["score >= 50", "score <= 50"], ["score > -1e3"],
])
def test_where_compares_statistics_and_columns(client: Client, seeded: dict[str, Any], where: list[str]) -> None:
    ops: dict[str, Callable[[float, float], bool]] = {
        ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b}

    def holds(row: Episode, text: str) -> bool:
        op = next(o for o in ops if o in text)  # two-character ones are listed first
        name, number = (part.strip() for part in text.split(op))
        value = stat(row, name)
        return value is not None and ops[op](value, float(number))  # no such statistic: no match, even with !=

    expected = matching(seeded, lambda e, r: all(holds(r, w) for w in where))
    assert ids(client, seeded["study"], where=where) == expected
    if where == ["score >= 50"]:
        assert 0 < len(expected) < len(seeded["episodes"])


def walk(client: Client, study: str, page: int, cursor: str | None = None, **params: Any) -> list[str]:
    """Every episode id from `cursor` on, following the cursors `page` at a time; no page is over-full."""
    out = []
    while True:
        got = client.page(f"/api/studies/{study}/episodes", page, cursor, **params)
        assert len(got.items) <= page
        out += [e["id"] for e in got.items]
        if got.next_cursor is None:
            return out
        cursor = got.next_cursor


def expected_order(seeded: dict[str, Any], sort: str, keep: set[str] | None = None) -> list[str]:
    name, descending = sort.removeprefix("-"), sort.startswith("-")
    rows = [e["row"] for eid, e in seeded["episodes"].items() if keep is None or eid in keep]
    value: Callable[[Episode], Any] = (lambda r: r.started_at) if name == "started_at" else (lambda r: stat(r, name))
    known = sorted((r for r in rows if value(r) is not None), key=lambda r: (value(r), r.id), reverse=descending)
    unknown = sorted((r.id for r in rows if value(r) is None), reverse=descending)  # last, by id
    return [r.id for r in known] + unknown


@pytest.mark.parametrize("sort", ["-score", "score", "active_minutes", "-jumps", "-total_reward", "num_steps",
                                  "-started_at", "started_at", "-active_s"])
def test_sorted_pages_hold_every_episode_once_in_order(client: Client, seeded: dict[str, Any], sort: str) -> None:
    study = seeded["study"]
    for page in (4, 7, 1000):
        assert walk(client, study, page, sort=sort) == expected_order(seeded, sort)
    where = ["score >= 20"]
    assert walk(client, study, 3, sort=sort, where=where) == expected_order(seeded, sort, ids(client, study,
                                                                                              where=where))


def test_a_walk_stays_whole_while_episodes_arrive(client: Client, seeded: dict[str, Any], stack: DevStack) -> None:
    """An episode that arrives behind the cursor is not seen, one ahead of it is; none repeats, none is skipped."""
    study_id = asyncio.run(untried_study(stack.database_url, client, cartpole_study()))
    rows = [episode_row(study_id, n, stats={"score": float(n)}) for n in range(10)]
    asyncio.run(_add(stack.database_url, rows))
    first = client.page(f"/api/studies/{study_id}/episodes", 4, sort="-score")
    assert [e["stats"]["score"] for e in first.items] == [9, 8, 7, 6]
    behind, ahead = (episode_row(study_id, 50 + i, stats={"score": s}) for i, s in enumerate((8.5, 2.5)))
    asyncio.run(_add(stack.database_url, [behind, ahead]))
    rest = walk(client, study_id, 4, first.next_cursor, sort="-score")
    scores = [e["stats"]["score"] for e in first.items] + [client.get_episode(e)["stats"]["score"] for e in rest]
    assert scores == [9, 8, 7, 6, 5, 4, 3, 2.5, 2, 1, 0]


def refused(client: Client, study: str, **params: Any) -> list[dict[str, Any]]:
    with pytest.raises(ApiError) as err:
        client.page(f"/api/studies/{study}/episodes", **params)
    assert err.value.status == 422, err.value.detail
    detail = err.value.detail
    return detail if isinstance(detail, list) else [{"msg": detail, "loc": []}]


@pytest.mark.parametrize(("params", "expected"), [
    ({"where": "score => 50"}, "Expected an operator (>=, <=, >, <, ==, !=) after 'score', got '=>'"),
    ({"where": "score >= 50; DROP TABLE episodes"}, "Expected a finite number (like 50, -1.5 or 2e3) after '>=', "
                                                    "got '50; DROP TABLE episodes'"),
    ({"where": "score' OR '1'='1 > 1"}, "Expected a statistic name of lowercase letters, digits and '_'"),
    ({"where": "stats->>'score' > 1"}, "got 'stats-' in \"stats->>'score' > 1\""),
    ({"where": "Score > 1"}, "got 'Score'"),
    ({"where": "sc ore > 1"}, "Expected an operator"),
    ({"where": "score > nan"}, "Expected a finite number (like 50, -1.5 or 2e3) after '>', got 'nan'"),
    ({"where": "score > inf"}, "got 'inf'"),
    ({"where": "score > 1e999"}, "got '1e999'"),
    ({"where": "score > 0x10"}, "got '0x10'"),
    ({"where": "score > " + "9" * 200}, "at most 120 characters"),
    ({"where": "a" * 65 + " > 1"}, "at most 64"),
    ({"where": ""}, "at least 1 character"),
    ({"where": [f"score > {i}" for i in range(MAX_WHERE + 1)]}, f"at most {MAX_WHERE} items"),
    ({"sort": "score desc"}, "Expected a sort key: started_at, total_reward, num_steps, active_s or a statistic"),
    ({"sort": "--score"}, "got '--score'"),
    ({"sort": "-"}, "got '-'"),
    ({"channel": "email"}, "'prolific', 'mturk' or 'link'"),
])
def test_hostile_queries_get_a_422_that_says_why(client: Client, seeded: dict[str, Any], params: dict[str, Any],
                                                 expected: str) -> None:
    problems = refused(client, seeded["study"], **params)
    assert any(expected in p["msg"] for p in problems), problems
    assert problems[0]["loc"][:2] == ["query", next(iter(params))]
    assert len(ids(client, seeded["study"])) == len(seeded["episodes"])  # the table is still there, whole


def test_a_cursor_belongs_to_its_sort(client: Client, seeded: dict[str, Any]) -> None:
    study = seeded["study"]
    by_score = client.page(f"/api/studies/{study}/episodes", 2, sort="-score").next_cursor
    by_time = client.page(f"/api/studies/{study}/episodes", 2).next_cursor
    assert by_score and by_time
    [problem] = refused(client, study, sort="score", cursor=by_score)
    assert "Expected the next_cursor of a page sorted by 'score', got one of a page sorted by '-score'" in \
        problem["msg"]
    for sort, cursor in (("-score", by_time), ("started_at", by_score)):
        assert "Expected the next_cursor of a previous page" in refused(client, study, sort=sort,
                                                                        cursor=cursor)[0]["msg"]


def test_the_sdk_returns_records_and_a_dataframe(client: Client, seeded: dict[str, Any]) -> None:
    study = seeded["study"]
    result = client.episodes(study, where=["score >= 50"], sort="-score", page_size=4)
    records = list(result)
    best = expected_order(seeded, "-score", ids(client, study, where=["score >= 50"]))
    assert [r["id"] for r in records] == best and list(result) == records  # read once, kept
    frame = result.to_dataframe()
    stats = {"active_minutes", "jumps", "score", "stats.seed", "steps"}
    assert list(frame.columns) == [*(f for f in EPISODE_FIELDS if f != "stats"), *sorted(stats)]
    assert list(frame["id"]) == best and list(frame["score"]) == [r["stats"]["score"] for r in records]
    assert all(str(frame[c].dtype) == "float64" for c in stats)
    for record, jumps in zip(records, frame["jumps"], strict=True):  # NaN where an episode has not the statistic
        assert math.isnan(jumps) if "jumps" not in record["stats"] else jumps == record["stats"]["jumps"]
    assert any("jumps" not in r["stats"] for r in records) and any("jumps" in r["stats"] for r in records)
    assert str(frame["started_at"].dtype).startswith("datetime64") and frame["started_at"].dt.tz is not None
    top = client.episodes(study, sort="-score", limit=3, page_size=2)
    assert [r["id"] for r in top] == expected_order(seeded, "-score")[:3]
    mturk = {r["id"] for r in client.episodes(study, channel="mturk", condition="fast", tags="good",
                                              state=["completed"])}
    assert mturk and mturk == matching(seeded, lambda e, r: e["channel"] == "mturk" and r.condition == "fast" and
                                       e["tags"] == ["good"] and r.state == "completed")
    empty = client.episodes(study, where="score > 1000").to_dataframe()
    assert empty.empty and list(empty.columns) == [f for f in EPISODE_FIELDS if f != "stats"]
    with pytest.raises(ApiError) as err:
        list(client.episodes(study, where="score >> 1"))
    assert "Expected an operator" in err.value.field_errors[0].msg


def test_the_sdk_knows_every_field_the_gateway_answers() -> None:
    from playcorder_gateway.schemas import EpisodeOut

    assert tuple(EpisodeOut.model_fields) == EPISODE_FIELDS


def test_a_dataframe_without_pandas_says_how_to_get_it() -> None:
    blocked = """
import importlib.abc, sys
class NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("No module named 'pandas'", name="pandas")
sys.meta_path.insert(0, NoPandas())
from playcorder.sdk import Episodes
try:
    Episodes([]).to_dataframe()
except ModuleNotFoundError as err:
    print(err)
"""
    out = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'playcorder[pandas]'" in out.stdout, out
    assert Episodes([{"id": "x", "stats": {"score": 1}}]).to_list() == [{"id": "x", "stats": {"score": 1}}]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playcorder.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_cli_lists_by_statistic_as_json_csv_or_a_table(cli_env: dict[str, str], client: Client,
                                                           seeded: dict[str, Any]) -> None:
    study = seeded["study"]
    query = ["episodes", "list", "--study", study, "--where", "score >= 50", "--sort", "-score"]
    best = expected_order(seeded, "-score", ids(client, study, where=["score >= 50"]))
    out = cli(cli_env, *query, "--json")
    assert out.returncode == 0, out.stderr
    assert [e["id"] for e in json.loads(out.stdout)] == best
    out = cli(cli_env, *query, "--channel", "prolific", "--condition", "fast", "--csv")
    assert out.returncode == 0, out.stderr
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["id"] for r in table] == [e for e in best if seeded["episodes"][e]["channel"] == "prolific" and
                                        seeded["episodes"][e]["row"].condition == "fast"]
    assert table and {"score", "active_minutes", "campaign_id", "condition"} <= set(table[0])
    assert [float(r["score"]) for r in table] == [seeded["episodes"][r["id"]]["row"].stats["score"] for r in table]
    out = cli(cli_env, *query)
    assert out.returncode == 0, out.stderr
    header, *lines = out.stdout.splitlines()
    assert header.split() == ["id", "env", "state", "steps", "reward", "started", "tags", "score"]
    assert [line.split()[0] for line in lines] == best
    assert [line.split()[-1] for line in lines] == [f"{seeded['episodes'][e]['row'].stats['score']:g}" for e in best]
    out = cli(cli_env, "episodes", "list", "--study", study, "--where", "score => 50", "--where", "x > nan")
    assert out.returncode == 1 and not out.stdout
    assert out.stderr.splitlines() == [
        "error: where.0: Expected an operator (>=, <=, >, <, ==, !=) after 'score', got '=>' in 'score => 50'",
        "error: where.1: Expected a finite number (like 50, -1.5 or 2e3) after '>', got 'nan' in 'x > nan'"]
    out = cli(cli_env, *query, "--json", "--csv")
    assert out.returncode == 1 and out.stderr == "error: Expected --json or --csv, got both\n"


@pytest.fixture(scope="module")
def played(client: Client, stack: DevStack) -> dict[str, Any]:
    """Five recorded CartPole episodes, given statistics afterwards."""
    created = client.create_study(cartpole_study())
    token = client.create_participant(created["id"])["token"]

    async def episode(actions: int) -> str:
        player = await Player.join(client.url, token, "cartpole")
        started = await player.until("episode_started")
        for _ in range(actions):
            await player.send(type="action", action=1)
            await player.until("frame")
        await player.send(type="end_episode", save=True)
        await player.until("episode_ended")
        await player.close()
        return str(started["episode_id"])

    played = [asyncio.run(episode(n + 1)) for n in range(5)]
    for eid in played:
        stored_episode(client, eid)
    scores = dict(zip(played, ({"score": 10.0}, {"score": 60.0}, {"score": 75.5}, {}, {"score": 50.0}), strict=True))
    asyncio.run(_set_stats(stack.database_url, scores))
    return {"study": created["id"], "scores": scores}


def _envlogger_ids(root: Path) -> list[str]:
    from playcorder_exporter.datasets.formats.envlogger_format import load_envlogger

    envlogger = load_envlogger()
    with envlogger.Reader(str(root / "train")) as reader:
        return [str(meta["episode_id"]) for meta in reader.episode_metadata()]


def test_an_export_by_statistic_holds_exactly_the_matching_episodes(client: Client, played: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    expected = [e for e, s in played["scores"].items() if s.get("score", -1) >= 50]
    assert len(expected) == 3
    export = client.create_export(played["study"], filter={"where": ["score >= 50"]}, format="envlogger")
    assert export["episodes"] == len(expected)
    export = client.wait_export(export["id"], timeout=180)
    assert export["state"] == "done", export["error"]
    client.download_export(export, tmp_path)
    assert _envlogger_ids(tmp_path) == expected  # in recording order
    with pytest.raises(ApiError) as err:
        client.create_export(played["study"], filter={"where": ["score >= 100"]})
    assert err.value.status == 422 and "'where': ['score >= 100']" in str(err.value.detail)
    with pytest.raises(ApiError) as err:
        client.create_export(played["study"], filter={"where": ["score >= 1e400"]})
    assert err.value.status == 422 and err.value.field_errors[0].loc == ("body", "filter", "where", 0)
