"""A Dockerfile read into its build stages and their instructions, enough for tests/test_images.py to check what
each image ends up with (no Docker engine needed). Continuation lines are joined, comments dropped; JSON-form
arguments (CMD, ENTRYPOINT, HEALTHCHECK CMD) are parsed as JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_FROM = re.compile(r"^(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<name>\S+))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ENV, USER, ...
    args: str  # the rest of the (joined) line

    def exec_form(self) -> list[str]:
        """CMD/ENTRYPOINT in JSON (exec) form; a shell-form one is an error, naming the line."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"Expected {self.keyword} in exec form (a JSON list of strings), got {self.args!r}")
        return value


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """The stage's ENV settings (KEY=VALUE form; the legacy `ENV KEY VALUE` form is refused)."""
        out: dict[str, str] = {}
        for i in self.all("ENV"):
            for pair in i.args.split():
                if "=" not in pair:
                    raise ValueError(f"Expected ENV in KEY=VALUE form, got {i.args!r}")
                key, value = pair.split("=", 1)
                out[key] = value
        return out


def logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue  # comments (also between continuation lines, as Docker allows) and blank lines
        if stripped.endswith("\\"):
            current += stripped[:-1].strip() + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current:
        lines.append(current.strip())
    return lines


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            m = _FROM.match(args)
            if m is None:
                raise ValueError(f"Expected `FROM image [AS name]` in {path.name}, got {line!r}")
            stages.append(Stage(m["image"], m["name"]))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"Expected FROM before {keyword} in {path.name}, got {line!r}")
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    if not stages:
        raise ValueError(f"Expected at least one FROM in {path.name}, got none")
    return stages
