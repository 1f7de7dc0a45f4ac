"""Where the CLI finds the gateway URL and designer token: flags, then environment, then the config file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypedDict, cast

DEFAULT_URL = "http://127.0.0.1:8000"


class _Server(TypedDict):
    token: str


class _Config(TypedDict, total=False):
    """The config file: a token per gateway URL, and the URL to use when none is given."""

    default_url: str
    servers: dict[str, _Server]


def config_path() -> Path:
    explicit = os.environ.get("PLAYCORDER_CONFIG")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "playcorder" / "config.json"


def _read() -> _Config:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cast(_Config, data) if isinstance(data, dict) else {}


def save_credentials(url: str, token: str, default: bool = True) -> Path:
    """Remember a token for a gateway URL (written by `make run` for the local designer account)."""
    data = _read()
    servers = data.setdefault("servers", {})
    servers[url.rstrip("/")] = {"token": token}
    if default:
        data["default_url"] = url.rstrip("/")
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def load_credentials(url: str | None = None, token: str | None = None) -> tuple[str, str | None]:
    data = _read()
    url = (url or os.environ.get("PLAYCORDER_URL") or data.get("default_url") or DEFAULT_URL).rstrip("/")
    token = token or os.environ.get("PLAYCORDER_TOKEN") or _saved_token(data, url)
    return url, token


def _saved_token(data: _Config, url: str) -> str | None:
    server = data.get("servers", {}).get(url)
    return server.get("token") if server else None
