"""Episodes: list and filter, read, edit notes, delete (metadata and stored steps)."""

from __future__ import annotations

import asyncio
from typing import Annotated, get_args

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlmodel import select

from playcorder.campaigns import Channel
from playcorder.db.models import DeletedEpisode, Episode
from playcorder.db.queries import step_tags_of, tags_of
from playcorder.episode_query import MAX_WHERE, SORT_COLUMNS, SortKey, Where, sort
from playcorder.exports import MAX_TAGS, EpisodeFilter
from playcorder.fields import Label, Moment, NonNegativeInt64, PositiveInt32, ShortText
from playcorder.messages import RECORDING, EpisodeState
from playcorder.storage import episode_prefix

from .. import ordering
from ..deps import DbSession, Objects, OwnedEpisode, OwnedStudy
from ..errors import ErrorOut
from ..paging import DEFAULT_LIMIT, Cursor, Limit, Page
from ..queries import conditions
from ..schemas import EpisodeDetail, EpisodeOut, EpisodePatch, StepTagOut

router = APIRouter(tags=["episodes"])

STATES: tuple[EpisodeState, ...] = get_args(EpisodeState)
_STATE_HELP = f"in any of these states (repeat the parameter): {', '.join(STATES)}"
_WHERE_HELP = (f"'<name> <op> <number>', e.g. 'score >= 50' (repeat: all of them, at most {MAX_WHERE}); op: >=, <=, "
               ">, <, ==, !=; name: a key of the episode's statistics (score, steps, active_minutes, custom ones; "
               "in multi-agent games human_steps, ai_steps, none_steps, late_steps) or total_reward, num_steps, "
               "active_s; an episode without the statistic matches none")
_SORT_HELP = (f"{', '.join(SORT_COLUMNS)} or a statistic's name (e.g. score); '-' first for descending; episodes "
              "without the statistic come last")


@router.get("/api/studies/{study_id}/episodes", response_model=Page[EpisodeOut])
async def list_episodes(
    study: OwnedStudy, db: DbSession,
    state: Annotated[list[str], Query(max_length=len(STATES), description=_STATE_HELP)] = [],  # noqa: B006 - copied
    env: Annotated[ShortText | None, Query(description="environment key in the study, or its Gymnasium id")] = None,
    participant: Annotated[ShortText | None, Query(description="participant id")] = None,
    version: Annotated[PositiveInt32 | None, Query(description="played with this version of the study")] = None,
    started_after: Moment | None = None, started_before: Moment | None = None,
    min_reward: float | None = None, max_reward: float | None = None,
    tag: Annotated[list[Label], Query(
        max_length=MAX_TAGS, description="episodes carrying every one of these tags (repeat the parameter)"),
    ] = [],  # noqa: B006 - FastAPI copies the default for each request
    campaign: Annotated[ShortText | None, Query(description="played through this campaign (its id)")] = None,
    condition: Annotated[ShortText | None, Query(description="in this condition (its key) of a campaign")] = None,
    channel: Annotated[Channel | None, Query(description="through a campaign recruiting on this channel")] = None,
    game_id: Annotated[ShortText | None, Query(description="the episodes (one per agent) of this multi-agent "
                                                           "game")] = None,
    agent: Annotated[ShortText | None, Query(description="episodes recording this agent of multi-agent games")] = None,
    where: Annotated[list[Where], Query(max_length=MAX_WHERE, description=_WHERE_HELP)] = [],  # noqa: B006 - copied
    sort_by: Annotated[SortKey, Query(alias="sort", description=_SORT_HELP)] = "started_at",
    limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
    offset: Annotated[NonNegativeInt64, Query(description="skip this many more (prefer cursor)")] = 0,
) -> Page[EpisodeOut]:
    """A study's episodes matching every criterion given, in recording order (or `sort`'s), a page at a time."""
    if bad := [s for s in state if s not in STATES]:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"Expected state in {list(STATES)}, got {bad[0]!r}")
    f = EpisodeFilter(env=env, participant=participant, study_version=version, tags=tag, started_after=started_after,
                      started_before=started_before, min_reward=min_reward, max_reward=max_reward,
                      campaign=campaign, condition=condition, channel=channel, game_id=game_id, agent=agent,
                      where=where)
    order = sort(sort_by)
    query = select(Episode, ordering.key(order)).where(Episode.study_id == study.id, *conditions(f, state or None))
    query = ordering.after(query, order, cursor, limit).offset(offset)
    rows, next_cursor = ordering.page(list(await db.exec(query)), limit, order)
    tags = await tags_of(db, [e.id for e in rows])
    return Page(items=[EpisodeOut.of(e, tags[e.id]) for e in rows], next_cursor=next_cursor)


async def _detail(db: DbSession, episode: Episode) -> EpisodeDetail:
    tags = (await tags_of(db, [episode.id]))[episode.id]
    step_tags = (await step_tags_of(db, [episode.id]))[episode.id]
    return EpisodeDetail(**EpisodeOut.of(episode, tags).model_dump(), observation_spec=episode.observation_spec,
                         action_spec=episode.action_spec,
                         step_tags=[StepTagOut(step=step, label=label) for step, labels in step_tags.items()
                                    for label in labels])


@router.get("/api/episodes/{episode_id}", response_model=EpisodeDetail)
async def get_episode(episode: OwnedEpisode, db: DbSession) -> EpisodeDetail:
    return await _detail(db, episode)


@router.patch("/api/episodes/{episode_id}", response_model=EpisodeDetail)
async def edit_episode(body: EpisodePatch, episode: OwnedEpisode, db: DbSession) -> EpisodeDetail:
    episode.notes = body.notes
    db.add(episode)
    await db.commit()
    return await _detail(db, episode)


@router.delete("/api/episodes/{episode_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={409: {"model": ErrorOut, "description": "the episode is still recording"}})
async def delete_episode(episode: OwnedEpisode, db: DbSession, objects: Objects) -> Response:
    """Removes the episode's stored steps and every row about it; a tombstone keeps late messages from reviving it."""
    if episode.state == RECORDING:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Expected a finished episode, got {episode.id} still recording; "
                                                      "delete it once it has ended")
    await db.merge(DeletedEpisode(id=episode.id))  # a merge: a delete retried after S3 was down finds it there
    await db.commit()  # first: from here on the recorder drops anything of this episode
    await asyncio.to_thread(objects.delete_prefix_sync, episode_prefix(episode.study_id, episode.id))
    await db.delete(episode)  # chunks and tags go with it (ON DELETE CASCADE)
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
