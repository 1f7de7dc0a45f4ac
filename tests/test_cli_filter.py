"""The CLI's export filter flags become the API's filter as given."""

from __future__ import annotations

from playcorder.cli import _filter, build_parser


def parsed(*args: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["export", "--study", "s", *args])


def test_a_reward_bound_of_zero_is_kept() -> None:
    assert _filter(parsed("--min-reward", "0", "--max-reward", "0")) == {"min_reward": 0.0, "max_reward": 0.0}


def test_no_filter_flags_means_no_filter() -> None:
    assert _filter(parsed()) is None
    assert _filter(parsed("--env", "pong", "--tag", "good", "--tag", "long")) == {"env": "pong", "tags": ["good", "long"]}
