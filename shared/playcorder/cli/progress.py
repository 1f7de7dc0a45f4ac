"""Progress bars for long waits, on stderr and only when it is a terminal (a log or a pipe gets none)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

# update(done, total, what): total None while unknown
Update = Callable[[float, float | None, str], None]


@contextmanager
def progress_bar(unit: Literal["steps", "bytes"]) -> Iterator[Update]:
    if not sys.stderr.isatty():
        yield lambda done, total, what: None
        return
    from rich import progress
    from rich.console import Console

    counts = ((progress.DownloadColumn(), progress.TransferSpeedColumn()) if unit == "bytes"
              else (progress.MofNCompleteColumn(), progress.TextColumn("steps")))
    with progress.Progress(progress.TextColumn("{task.description}"), progress.BarColumn(), *counts,
                           progress.TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("", total=None)
        yield lambda done, total, what: bar.update(task, completed=done, total=total, description=what)
