"""A participant's detail embeds at most their latest 100 sessions and episodes, with how many there are in all and
the paginated lists that hold every one, however much they played."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.db.models import Episode, PlaySession
from playcorder.devstack.stack import DevStack
from playcorder.sdk import Client
from tests.factories import cartpole_study

pytestmark = pytest.mark.e2e

SESSIONS, EPISODES = 105, 130  # beyond the 100 embedded


async def _played_a_lot(database_url: str, study_id: str, participant_id: str) -> tuple[list[str], list[str]]:
    """Rows as the recorder and gateway write them, straight into PostgreSQL: playing this much would take minutes."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sessions = [PlaySession(id=uuid.uuid4().hex, study_id=study_id, participant_id=participant_id, env="cartpole",
                            worker_id="w", started_at=start + timedelta(minutes=i)) for i in range(SESSIONS)]
    episodes = [Episode(id=uuid.uuid4().hex, study_id=study_id, session_id=sessions[i % SESSIONS].id,
                        participant_id=participant_id, env="cartpole", env_id="CartPole-v1", worker_id="w", seed=i,
                        state="completed", observation_spec={}, action_spec={},
                        started_at=start + timedelta(minutes=i, seconds=1)) for i in range(EPISODES)]
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            db.add_all(sessions)
            await db.commit()
            db.add_all(episodes)
            await db.commit()
    finally:
        await engine.dispose()
    return [s.id for s in sessions], [e.id for e in episodes]


async def test_the_detail_embeds_the_latest_100_and_points_to_the_lists(stack: DevStack, client: Client) -> None:
    study = client.create_study(cartpole_study())["id"]
    participant = client.create_participant(study, external_id="busy")["participant_id"]
    quiet = client.get_participant(participant)
    assert (quiet["sessions"], quiet["episodes"], quiet["session_count"], quiet["episode_count"]) == ([], [], 0, 0)

    sessions, episodes = await _played_a_lot(stack.database_url, study, participant)
    detail = client.get_participant(participant)
    assert [s["id"] for s in detail["sessions"]] == sessions[-100:]  # the latest, oldest first
    assert [e["id"] for e in detail["episodes"]] == episodes[-100:]
    assert (detail["session_count"], detail["episode_count"]) == (SESSIONS, EPISODES)
    assert [detail["sessions"][i]["episodes"] for i in (0, -1)] == [2, 1]  # 130 episodes over 105 sessions
    assert detail["external_id"] == "busy"

    # The lists it names hold every one, page by page.
    listed = client.page(detail["episodes_list"].split("?")[0], limit=1000, participant=participant)
    assert [e["id"] for e in listed.items] == episodes and listed.next_cursor is None
    assert [s["id"] for s in client.list_sessions(study, participant=participant, limit=40)] == sessions
    assert detail["sessions_list"] == f"/api/studies/{study}/sessions?participant={participant}"
    assert detail["episodes_list"] == f"/api/studies/{study}/episodes?participant={participant}"
