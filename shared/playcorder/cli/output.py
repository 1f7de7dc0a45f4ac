"""What commands print on stdout: JSON for scripts (`--json`, and records), rich tables for people."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Row], object]
    justify: Literal["left", "right"] = "left"
    no_wrap: bool = False  # ids: whole, so that they can be copied


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_rows(rows: Sequence[Row], columns: Sequence[Column], as_json: bool) -> None:
    """A list command's output: the rows as JSON, or as a table of these columns."""
    if as_json:
        print_json(rows)
    else:
        print_table(rows, columns)


def print_table(rows: Sequence[Row], columns: Sequence[Column]) -> None:
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(*(c.header for c in columns), box=None, pad_edge=False, header_style="bold")
    for spec, column in zip(columns, table.columns, strict=True):
        column.justify, column.no_wrap = spec.justify, spec.no_wrap
    for row in rows:
        table.add_row(*(str(c.value(row)) for c in columns))
    console = Console()
    if not console.is_terminal:  # a pipe or a file: whole rows, however wide, rather than squeezed into 80 columns
        console.width = max(console.width, Measurement.get(console, console.options.update_width(10**4), table).maximum)
    console.print(table)


def when(iso: str | None) -> str:
    """An ISO time as a table shows it: to the second, no zone (the API's times are UTC)."""
    return iso[:19].replace("T", " ") if iso else ""


def size(n: int | None) -> str:
    from rich.filesize import decimal

    return "" if n is None else decimal(n)
