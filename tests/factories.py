"""Test data: study specs, and a study stored without the trial its creation runs."""

from __future__ import annotations

import uuid
from typing import Any

from playcorder.sdk import Client


def pong_study(max_episode_steps: int = 250, **env: Any) -> dict[str, Any]:
    """Turn-based unless told otherwise, so a bot plays as fast as the stack answers."""
    return {
        "name": f"pong-{uuid.uuid4().hex[:8]}",
        "instructions": "Return the ball.",
        "environments": [{"id": "pong", "env_id": "ALE/Pong-v5", "max_episode_steps": max_episode_steps,
                          "mode": "turn_based", **env}],
    }


def cartpole_study(**env: Any) -> dict[str, Any]:
    return {
        "name": f"cartpole-{uuid.uuid4().hex[:8]}",
        "environments": [{"id": "cartpole", "env_id": "CartPole-v1", "mode": "turn_based", **env}],
    }


def study(*environments: dict[str, Any], name: str = "study") -> dict[str, Any]:
    return {"name": f"{name}-{uuid.uuid4().hex[:8]}", "environments": list(environments)}


async def untried_study(database_url: str, client: Client, spec: dict[str, Any]) -> str:
    """A study saved straight into the database, as one saved before studies were tried (or tried on a worker that
    could make it) would be: the only way left to a stored study whose environment fails when played."""
    from playcorder.db.engine import make_engine, make_sessionmaker
    from playcorder.db.models import Study
    from playcorder.specs import StudySpec

    owner = client._http.get("/api/me").raise_for_status().json()["id"]
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            row = Study(name=spec["name"], owner_id=owner,
                        spec=StudySpec.model_validate(spec).model_dump(mode="json"))
            db.add(row)
            await db.commit()
            return row.id
    finally:
        await engine.dispose()
