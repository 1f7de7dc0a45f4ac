"""The answer to an episode query (Client.episodes): its records, fetched a page at a time as they are read and
kept, and the same as a pandas DataFrame (the `pandas` extra) with each statistic as a column of its own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# The gateway's EpisodeOut fields, in its order: the columns of a DataFrame even when no episode matched.
EPISODE_FIELDS = (
    "id", "study_id", "study_version", "session_id", "participant_id", "env", "env_id", "worker_id", "state",
    "end_reason", "num_steps", "total_reward", "seed", "started_at", "ended_at", "duration_s", "active_s", "tags",
    "notes", "campaign_id", "condition", "stats", "game_id", "agent",
)
_TIMES = ("started_at", "ended_at")


def stat_column(name: str) -> str:
    """The DataFrame column of statistic `name`: its name, or `stats.<name>` where an episode field has that name."""
    return f"stats.{name}" if name in EPISODE_FIELDS else name


class Episodes:
    """The episodes a query matched, in its order. Iterating pages through the gateway on first reading (nothing is
    asked before); what was read is kept, so reading again, or `to_dataframe()` after, asks nothing more."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self._source: Iterator[dict[str, Any]] = iter(records)
        self._read: list[dict[str, Any]] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        i = 0
        while True:
            if i == len(self._read):
                item = next(self._source, None)
                if item is None:
                    return
                self._read.append(item)
            yield self._read[i]
            i += 1

    def to_list(self) -> list[dict[str, Any]]:
        return list(self)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per episode: its fields (times as UTC timestamps, tags as lists) and one float column per
        statistic any of them has (NaN where an episode has not that one), named by `stat_column`."""
        try:
            import pandas as pd
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError("Expected pandas for Episodes.to_dataframe(), got none installed: install the "
                                      "SDK with its pandas extra, pip install 'playcorder[pandas]'",
                                      name="pandas") from err
        fields, stats, rows = flattened(self.to_list())
        frame = pd.DataFrame(rows, columns=[*fields, *stats])
        for column in stats:
            frame[column] = frame[column].astype("float64")
        for column in _TIMES:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame


def flattened(records: list[dict[str, Any]]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """The records as flat rows: the episode fields' columns, the statistics' columns (sorted by name; see
    `stat_column`) and the rows (a statistic an episode has not is missing from its row)."""
    fields = [f for f in EPISODE_FIELDS if f != "stats"]
    fields += list(dict.fromkeys(k for r in records for k in r if k not in EPISODE_FIELDS))  # a newer gateway's
    names = sorted({name for r in records for name in r.get("stats") or {}})
    rows = [{**{f: r.get(f) for f in fields},
             **{stat_column(n): float(v) for n, v in (r.get("stats") or {}).items()}} for r in records]
    return fields, [stat_column(n) for n in names], rows
