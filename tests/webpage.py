"""The web player's connection module (frontend/src/player/connection.ts, built into frontend/dist/player/ by
`make frontend`) driven from node (tests/webplayer_harness.mjs): what the page shows, as a participant would see it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "frontend" / "dist" / "player" / "connection.js"


class Page:
    """What the player page shows, read from the harness's JSON lines."""

    def __init__(self, url: str, token: str, log: Path) -> None:
        assert MODULE.is_file(), f"Expected the built web player at {MODULE}, got none: run `make frontend`"
        self.log = log.open("w")
        self.process = subprocess.Popen(
            ["node", "--experimental-websocket", str(ROOT / "tests" / "webplayer_harness.mjs"), url.split("://")[1],
             token, MODULE.as_uri()], stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.shown: list[dict[str, Any]] = []

    def until(self, what: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            line = self.process.stdout.readline()
            if line.startswith("{"):
                self.shown.append(json.loads(line))
                if what(self.shown[-1]):
                    return self.shown[-1]
        raise AssertionError(f"the page never showed it; last shown: {self.shown[-3:]}")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.log.close()
