"""The CLI's filter options become the API's filter as given, in `export` and in `episodes list` alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from playcorder.cli import episodes, exports
from playcorder.cli.app import app


class FakeGateway:
    """Stands in for the SDK client: records what the commands ask for."""

    url = "http://gateway.invalid"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    # The SDK's signature, `filter` included.
    def create_export(self, study_id: str, episode_ids: list[str] | None = None, link_expiry: int | None = None,
                      filter: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        self.calls.append({"filter": filter, "episode_ids": episode_ids, **options})
        return {"id": "x", "state": "queued"}

    def list_episodes(self, study_id: str, **query: Any) -> list[dict[str, Any]]:
        self.calls.append(query)
        return [{"id": f"{state}-1", "state": state} for state in query["state"] or ["completed"]]


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    fake = FakeGateway()
    for module in (episodes, exports):
        monkeypatch.setattr(module, "connect", lambda ctx: fake)
    return fake


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def exported_filter(gateway: FakeGateway, *args: str) -> Any:
    invoke("export", "--study", "s", *args)
    return gateway.calls[-1]["filter"]


def test_a_reward_bound_of_zero_is_kept(gateway: FakeGateway) -> None:
    assert exported_filter(gateway, "--min-reward", "0", "--max-reward", "0") == {"min_reward": 0.0, "max_reward": 0.0}


def test_no_filter_flags_means_no_filter(gateway: FakeGateway) -> None:
    assert exported_filter(gateway) is None
    assert exported_filter(gateway, "--env", "pong", "--tag", "good", "--tag", "long") == {"env": "pong",
                                                                                            "tags": ["good", "long"]}


def test_repeated_states_are_all_kept(gateway: FakeGateway) -> None:
    assert exported_filter(gateway, "--state", "completed", "--state", "rejected") == {
        "states": ["completed", "rejected"]}


def test_episodes_list_asks_for_every_state_at_once(gateway: FakeGateway) -> None:
    rows = invoke("episodes", "list", "--study", "s", "--state", "completed", "--state", "rejected", "--tag", "good",
                  "--min-reward", "0")
    assert [r["state"] for r in rows] == ["completed", "rejected"]
    assert [(q["state"], q["tag"], q["min_reward"]) for q in gateway.calls] == [(["completed", "rejected"], ["good"],
                                                                                0.0)]


def test_the_study_version_is_a_filter_of_both(gateway: FakeGateway) -> None:
    assert exported_filter(gateway, "--study-version", "2") == {"study_version": 2}
    invoke("episodes", "list", "--study", "s", "--study-version", "3")
    assert gateway.calls[-1]["version"] == 3


def test_campaign_and_statistic_filters_go_to_both(gateway: FakeGateway) -> None:
    flags = ("--campaign", "c1", "--condition", "fast", "--channel", "mturk", "--where", "score >= 50", "--where",
             "active_minutes > 5")
    assert exported_filter(gateway, *flags) == {"campaign": "c1", "condition": "fast", "channel": "mturk",
                                                "where": ["score >= 50", "active_minutes > 5"]}
    invoke("episodes", "list", "--study", "s", *flags, "--sort", "-score")
    asked = gateway.calls[-1]
    assert (asked["campaign"], asked["condition"], asked["channel"], asked["where"], asked["sort"]) == (
        "c1", "fast", "mturk", ["score >= 50", "active_minutes > 5"], "-score")


def test_game_and_agent_go_to_both(gateway: FakeGateway) -> None:
    assert exported_filter(gateway, "--game-id", "g1", "--where", "ai_steps > 0") == {"game_id": "g1",
                                                                                      "where": ["ai_steps > 0"]}
    invoke("export", "--study", "s", "--agent", "first_0", "--episode", "e1")  # narrows ids or filter alike
    assert (gateway.calls[-1]["agent"], gateway.calls[-1]["episode_ids"]) == ("first_0", ["e1"])
    invoke("episodes", "list", "--study", "s", "--game-id", "g1", "--agent", "second_0")
    assert (gateway.calls[-1]["game_id"], gateway.calls[-1]["agent"]) == ("g1", "second_0")


def test_an_unknown_channel_is_refused_before_asking(gateway: FakeGateway) -> None:
    result = CliRunner().invoke(app, ["episodes", "list", "--study", "s", "--channel", "email"])
    assert result.exit_code == 2 and "'email' is not one of 'prolific', 'mturk', 'link'" in result.output
    assert gateway.calls == []


def test_the_table_knows_which_sort_keys_are_columns() -> None:
    from playcorder.episode_query import SORT_COLUMNS

    assert episodes._NOT_STATS == set(SORT_COLUMNS)  # spelled out there to keep pydantic out of the CLI's start
