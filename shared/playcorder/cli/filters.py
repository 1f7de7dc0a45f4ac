"""The episode filter, declared once: `episodes list` and `export` take the same options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer

Env = Annotated[str | None, typer.Option(metavar="ENV", help="of this environment (key or Gymnasium id)")]
States = Annotated[list[str] | None, typer.Option(
    "--state", metavar="STATE",
    help="in this state: recording, completed, rejected, cancelled, abandoned or interrupted (repeat: any of them)")]
Participant = Annotated[str | None, typer.Option(metavar="ID", help="played by this participant")]
Tags = Annotated[list[str] | None, typer.Option("--tag", metavar="TAG", help="carrying this tag (repeat: all of them)")]
Since = Annotated[str | None, typer.Option(metavar="TIME", help="started at or after this ISO time")]
Until = Annotated[str | None, typer.Option(metavar="TIME", help="started before this ISO time")]
MinReward = Annotated[float | None, typer.Option(metavar="R", help="total reward at least R")]
MaxReward = Annotated[float | None, typer.Option(metavar="R", help="total reward at most R")]
StudyVersion = Annotated[int | None, typer.Option(metavar="N", min=1,
                                                  help="played with version N of the study (`studies versions`)")]
Campaign = Annotated[str | None, typer.Option(metavar="ID", help="played through this campaign")]
Condition = Annotated[str | None, typer.Option(metavar="KEY", help="played in this condition of a campaign")]
# playcorder.campaigns.Channel spelled out: importing it (pydantic models) would slow every command down
Channel = Annotated[Literal["prolific", "mturk", "link"] | None, typer.Option(
    help="played through a campaign recruiting on this channel")]
GameId = Annotated[str | None, typer.Option(metavar="ID", help="the episodes (one per agent) of this multi-agent game")]
Agent = Annotated[str | None, typer.Option(metavar="AGENT",
                                           help="episodes recording this agent of multi-agent games (e.g. first_0)")]
Where = Annotated[list[str] | None, typer.Option(
    "--where", metavar="'NAME OP N'",
    help="a comparison that must hold, e.g. 'score >= 50' (repeat: all of them); OP: >= <= > < == !=; NAME: a "
         "statistic (score, steps, active_minutes, custom ones; in multi-agent games human_steps, ai_steps, "
         "none_steps, late_steps) or total_reward, num_steps, active_s")]


@dataclass(frozen=True)
class Campaigns:
    """The filter options about campaigns and statistics (a group of their own: `Filter.of` stays short)."""

    campaign: str | None = None
    condition: str | None = None
    channel: str | None = None
    where: tuple[str, ...] = ()

    @classmethod
    def of(cls, campaign: str | None, condition: str | None, channel: str | None,
           where: list[str] | None) -> Campaigns:
        return cls(campaign, condition, channel, tuple(where or ()))

    def given(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "condition": self.condition, "channel": self.channel,
                "where": list(self.where) or None}


@dataclass(frozen=True)
class Filter:
    env: str | None = None
    states: tuple[str, ...] = ()
    participant: str | None = None
    tags: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    min_reward: float | None = None
    max_reward: float | None = None
    study_version: int | None = None
    campaigns: Campaigns = Campaigns()
    game_id: str | None = None
    agent: str | None = None

    @classmethod
    def of(cls, env: str | None, states: list[str] | None, participant: str | None, tags: list[str] | None,
           since: str | None, until: str | None, min_reward: float | None, max_reward: float | None,
           study_version: int | None = None, campaigns: Campaigns = Campaigns(), *, game_id: str | None = None,
           agent: str | None = None) -> Filter:
        """From the options above, as typer hands them over (None for a repeatable option not given)."""
        return cls(env, tuple(states or ()), participant, tuple(tags or ()), since, until, min_reward, max_reward,
                   study_version, campaigns, game_id, agent)

    def for_export(self) -> dict[str, Any] | None:
        """The export's `filter`: the criteria given, or None for none (the export's default, completed episodes)."""
        given = {"env": self.env, "states": list(self.states), "participant": self.participant,
                 "tags": list(self.tags), "started_after": self.since, "started_before": self.until,
                 "min_reward": self.min_reward, "max_reward": self.max_reward, "study_version": self.study_version,
                 "game_id": self.game_id, "agent": self.agent, **self.campaigns.given()}
        given = {k: v for k, v in given.items() if v is not None and v != []}  # a bound of 0 is a bound
        return given or None

    def query(self) -> dict[str, Any]:
        """The query parameters of `GET /api/studies/{id}/episodes` (repeated `state` and `tag`)."""
        return {"env": self.env, "state": list(self.states) or None, "participant": self.participant,
                "tag": list(self.tags) or None, "started_after": self.since, "started_before": self.until,
                "min_reward": self.min_reward, "max_reward": self.max_reward, "version": self.study_version,
                "game_id": self.game_id, "agent": self.agent, **self.campaigns.given()}
