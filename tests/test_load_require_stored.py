"""`playcorder load --require-stored` (what the chart's `helm test` pod runs): exit 1 with the numbers unless
players joined and every step played is stored. The run against the real stack is in test_load.py."""

from __future__ import annotations

from typing import Any

import pytest

from playcorder.cli.errors import UserError
from playcorder.cli.load import check_stored


def report(**over: Any) -> dict[str, Any]:
    return {"players": 1, "joined": 1, "refused": 0, "failed": 0, "steps_played": 40, "steps_stored": 40,
            "steps_lost": 0} | over


def test_every_step_stored_passes() -> None:
    check_stored(report())


@pytest.mark.parametrize(("over", "said"), [
    ({"steps_stored": 38, "steps_lost": 2}, "got 40 played, 38 stored (2 lost)"),
    ({"steps_stored": None, "steps_lost": None}, "got none counted (40 played)"),
    ({"joined": 0, "refused": 1}, "got none of 1 (1 refused for no capacity, 0 failed)"),
    ({"steps_played": 0, "steps_stored": 0}, "got 0 played, 0 stored (0 lost)"),
])
def test_anything_short_of_every_step_stored_fails(over: dict[str, Any], said: str) -> None:
    with pytest.raises(UserError) as err:
        check_stored(report(**over))
    assert said in str(err.value) and "--require-stored" in str(err.value)
