"""Options that many commands share."""

from __future__ import annotations

from typing import Annotated

import typer

Study = Annotated[str, typer.Option(metavar="ID", help="study id")]
Json = Annotated[bool, typer.Option("--json", help="print JSON (for scripts) instead of text")]
