"""`playcorder load`: N load-bot players at once through the browser's WebSocket protocol, and what they got."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .errors import UserError
from .gateway import connect
from .options import Json, Study
from .output import print_json

MAX_PLAYERS = 1000
MAX_URL = 2000


def load(
    ctx: typer.Context, study: Study,
    players: Annotated[int, typer.Option(metavar="N", help="players at once (each a new participant)")],
    duration: Annotated[float, typer.Option(metavar="S", help="seconds measured with every player in")],
    env: Annotated[str | None, typer.Option(
        metavar="ENV", help="environment key in the study (default: its only enabled one)")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="seed of the players' input")] = None,
    gateway: Annotated[list[str] | None, typer.Option(
        metavar="URL", help="a gateway to play through, repeatable: players spread over them and one whose gateway "
                            "restarts (close 1012) resumes through the next (default: --url)")] = None,
    as_json: Json = False,
    require_stored: Annotated[bool, typer.Option(
        "--require-stored", help="exit 1 unless players joined and every step played is stored (as `helm test` "
                                 "does)")] = False,
) -> None:
    """Play N players at once and report what they got.

    Each player changes its input every 100-300 ms (realtime; turn-based: one action a step period), is measured
    for S seconds once every player is in, then ends and keeps its episode. Reports the share of the nominal frame
    rate, late frames (over 1.5 periods apart), input-to-frame latency, bytes per minute, and steps played vs
    stored (after the episodes are durable). Players refused for lack of capacity are counted, not retried.
    """
    import asyncio

    from ..sdk.load import run_load

    if not 1 <= players <= MAX_PLAYERS:
        raise UserError(f"Expected --players between 1 and {MAX_PLAYERS}, got {players}")
    if not duration > 0:
        raise UserError(f"Expected --duration above 0 seconds, got {duration:g}")
    gateways = [url.rstrip("/") for url in gateway or []]
    for url in gateways:
        if not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
            raise UserError(f"Expected --gateway to be an http:// or https:// URL of at most {MAX_URL} characters, "
                            f"got {url[:80]!r}")
    client = connect(ctx)
    key = _environment(client.get_study(study), env)
    tokens = [client.create_participant(study, external_id=f"load-{i}")["token"] for i in range(players)]
    report = asyncio.run(run_load(gateways or client.url, tokens, key, duration, seed=seed, client=client,
                                  study_id=study))
    data = report.to_dict() | {"study_id": study, "env": key}
    if as_json:
        print_json(data)
    else:
        _print_summary(data)
    if report.joined == 0 and report.refused == 0:
        raise UserError(f"Expected players to join, got none: {'; '.join(data['failures']) or 'no reason given'}")
    if require_stored:
        check_stored(data)


def check_stored(data: dict[str, Any]) -> None:
    """--require-stored: a UserError unless some player joined, played steps, and every step played is stored."""
    if not data["joined"]:
        raise UserError(f"Expected players to join with --require-stored, got none of {data['players']} "
                        f"({data['refused']} refused for no capacity, {data['failed']} failed)")
    if data["steps_stored"] is None:
        raise UserError(f"Expected the steps stored to be counted with --require-stored, got none counted "
                        f"({data['steps_played']} played)")
    if not data["steps_played"] or data["steps_lost"]:
        raise UserError(f"Expected every step played to be stored with --require-stored, got {data['steps_played']} "
                        f"played, {data['steps_stored']} stored ({data['steps_lost']} lost)")


def _environment(study: dict[str, Any], env: str | None) -> str:
    """The environment key to play: --env must name one of the study's enabled environments; without it, the
    study must have exactly one."""
    disabled = set(study.get("disabled_environments") or [])
    keys = [e["id"] for e in study["spec"]["environments"] if e["id"] not in disabled]
    if env is None:
        if len(keys) != 1:
            raise UserError(f"Expected --env, one of {keys} (the study has {len(keys)} enabled environments), got none")
        return str(keys[0])
    ids = {e["env_id"]: e["id"] for e in study["spec"]["environments"] if e["id"] not in disabled}
    if env in keys:
        return env
    if env in ids:
        return str(ids[env])
    raise UserError(f"Expected --env to be one of the study's enabled environments {keys}, got {env!r}")


def _fmt(value: Any, unit: str = "", percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{value * 100:.1f}%"
    return f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _print_summary(d: dict[str, Any]) -> None:
    share, lat = d["fps_share"], d["latency_ms"]
    lost = d["steps_lost"]
    rows = [
        ("players", f"{d['players']} ({d['joined']} joined, {d['refused']} refused for no capacity, "
                    f"{d['failed']} failed)"),
        ("environment", f"{d['env']} ({d['mode']}, {d['fps']} fps), {d['duration_s']:g} s measured"),
        ("frame rate share", f"p5 {_fmt(share['p5'], percent=True)}, median {_fmt(share['p50'], percent=True)}, "
                             f"mean {_fmt(share['mean'], percent=True)}, min {_fmt(share['min'], percent=True)}; "
                             f"{_fmt(share['at_target'], percent=True)} of players at >=95%"),
        ("late frames", f"{_fmt(d['late_frames_share'], percent=True)} (more than {d['late_threshold_periods']:g} "
                        "periods after the previous)"),
        ("latency", f"p50 {_fmt(lat['p50'], ' ms')}, p99 {_fmt(lat['p99'], ' ms')} over {lat['n']} inputs "
                    f"({lat['method']})"),
        ("bytes/min/player", _size(d["bytes_per_min_per_player"])),
        ("steps", f"{d['steps_played']} played, {_fmt(d['steps_stored'])} stored, {_fmt(lost)} lost "
                  f"({d['episodes']} episodes, {_fmt(d['episodes_stored'])} listed as stored)"),
        ("bot CPU", f"{d['bot_cpu_s']:g} s ({_fmt(d['bot_cpu_share_window'], percent=True)} of a core while "
                    "measuring)"),
    ]
    if d["errors"]:
        rows.append(("errors", ", ".join(f"{code} x{n}" for code, n in sorted(d["errors"].items()))))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _size(n: float | None) -> str:
    from .output import size

    return "-" if n is None else size(int(n))


