"""The lobby of multi-agent games (issue 16): which game, worker and seat a participant who selects a multi-agent
environment gets, across every gateway.

A participant joins the oldest game of that environment still waiting (its fill_at more than JOIN_MARGIN away) with
a free seat a person plays; with none, a new game on the least loaded worker, waiting `lobby_seconds` for partners.
Joins of one environment take turns under a PostgreSQL advisory lock of the transaction (a few milliseconds each):
two gateways never give one seat twice, and participants arriving at the same moment fill one game rather than
opening one each (row locks with SKIP LOCKED did that: each skipped the game the other was joining). The worker
holds the game and fills what is still empty at fill_at (multiagent/game.py). CrowdPlay matched partners only
within one server process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playcorder.db.models import Game
from playcorder.messages import GameSeat
from playcorder.specs import EnvironmentSpec

# A game this close to filling takes nobody new: the seat would reach its worker after the policies took it.
JOIN_MARGIN = timedelta(seconds=1.0)
_CANDIDATES = 20  # waiting games looked at per join
KEEP_FILLED = timedelta(hours=1)  # a lobby row this long past its fill is done with (its episodes say the rest)


class NoWorker(Exception):
    """No worker has room for a new game."""


@dataclass(frozen=True)
class Joined:
    seat: GameSeat
    worker_id: str
    created: bool  # this participant opened the game


def _lock_key(study_id: str, env: str) -> int:
    """The advisory lock of one environment's lobby: a signed 64-bit number from its study and key."""
    digest = hashlib.blake2b(f"lobby:{study_id}:{env}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _free(game: Game, env: EnvironmentSpec, participant_id: str) -> str | None:
    assert env.agents is not None
    if participant_id in game.seats.values():
        return None  # one seat per participant per game: a second tab gets a game of its own
    return next((a for a in env.agents.human_seats() if a not in game.seats), None)


async def join(sessions: async_sessionmaker[AsyncSession], study_id: str, env: EnvironmentSpec,
               participant_id: str, pick_worker: Callable[[], str | None]) -> Joined:
    """A seat for the participant: in a waiting game, or in a new one on the worker `pick_worker` names."""
    assert env.agents is not None
    async with sessions() as db:
        await db.exec(select(func.pg_advisory_xact_lock(_lock_key(study_id, env.id))))
        now = datetime.now(UTC)
        await db.exec(delete(Game).where(Game.study_id == study_id, Game.env == env.id,
                                         col(Game.fill_at) < now - KEEP_FILLED))
        waiting = await db.exec(
            select(Game).where(Game.study_id == study_id, Game.env == env.id, col(Game.fill_at) > now + JOIN_MARGIN)
            .order_by(col(Game.created_at)).limit(_CANDIDATES))
        for game in waiting:
            agent = _free(game, env, participant_id)
            if agent is not None:
                game.seats = {**game.seats, agent: participant_id}
                await db.commit()
                return Joined(GameSeat(game_id=game.id, agent=agent, fill_at=game.fill_at), game.worker_id, False)
        worker_id = pick_worker()
        if worker_id is None:
            raise NoWorker
        agent = env.agents.human_seats()[0]
        game = Game(study_id=study_id, env=env.id, worker_id=worker_id, seats={agent: participant_id},
                    fill_at=now + timedelta(seconds=env.agents.lobby_seconds))
        db.add(game)
        await db.commit()
        return Joined(GameSeat(game_id=game.id, agent=agent, fill_at=game.fill_at), worker_id, True)


async def give_back(sessions: async_sessionmaker[AsyncSession], joined: Joined, participant_id: str) -> None:
    """The seat's worker refused it: free the seat for someone else (the game stays for its other players)."""
    async with sessions() as db:
        game = (await db.exec(select(Game).where(Game.id == joined.seat.game_id).with_for_update())).first()
        if game is not None and game.seats.get(joined.seat.agent) == participant_id:
            game.seats = {a: p for a, p in game.seats.items() if a != joined.seat.agent}
            await db.commit()
