"""`playcorder dev` (what `make run` runs): embedded servers, migrations, the local designer (a CLI token and a
password to sign in with in the browser), four services, the env-worker as WORKER_PROCESSES processes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import socket
import threading
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from ..admin import create_designer_token, password_is, set_password, token_is_valid
from ..db.migrate import upgrade
from ..sdk.config import save_credentials
from .ports import port_is_free
from .services import ServiceProcess, start_all, stop_all
from .settings import MAX_WORKERS, DevSettings
from .stack import DevStack
from .supervisor import Supervisor, stack_components

LOCAL_ACCOUNT = "local"
# Stable ports when free, so presigned links and a NATS CLI keep working across restarts; never the
# system services' 4222/5432.
PREFERRED_NATS_PORT, PREFERRED_S3_PORT = 4322, 9000


def _designer_token(root: Path, database_url: str) -> str:
    """Reuse the local designer's token across runs while it is valid, so scripts keep working; a new one
    replaces it once it would expire within a week (tokens expire after 90 days)."""
    from datetime import timedelta  # here, not at the top: this function is all of launcher.py the tokens touch

    path = root / "designer-token"
    if path.exists():
        token = path.read_text().strip()
        if asyncio.run(token_is_valid(database_url, token, for_at_least=timedelta(days=7))):
            return token
    token = asyncio.run(create_designer_token(database_url, LOCAL_ACCOUNT))
    path.write_text(token)
    path.chmod(0o600)
    return token


def _designer_password(root: Path, database_url: str) -> str | None:
    """The local designer's password, generated on the first run and kept in <root>/designer-password (0600) for
    the next ones; given to the account again when its database is new. None when someone has changed it since
    (`playcorder accounts password local`): that one stays."""
    from ..passwords import check, generate  # here, not at the top: only this function needs them

    path = root / "designer-password"
    password = path.read_text().strip() if path.exists() else ""
    try:
        check(password)
    except ValueError:  # none yet (or an unusable file): a new one
        path.unlink(missing_ok=True)
    if path.exists():
        matches = asyncio.run(password_is(database_url, LOCAL_ACCOUNT, password))
        if matches is False:
            return None
        if matches:
            return password
    else:
        password = generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, not even briefly
        with os.fdopen(fd, "w") as f:
            f.write(password)
    asyncio.run(set_password(database_url, LOCAL_ACCOUNT, password))
    return password


def _lock(root: Path) -> IO[str]:
    """One `playcorder dev` per root: a second would share the first one's servers and lose them as it stops."""
    handle = open(root / "dev.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        raise SystemExit(f"error: another `playcorder dev` (pid {handle.read().strip() or '?'}) is using {root}; "
                         "stop it first (Ctrl-C), or pass --root for a separate stack") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle  # the lock lasts as long as this file stays open


def worker_process(index: int | None, env: dict[str, str], logs: Path) -> ServiceProcess:
    """One env-worker process as `playcorder dev` runs it: its own WORKER_PORT and a WORKER_ID kept across its
    restarts (a restarted one is told apart by its start time). `index` None: the only one, named env-worker;
    else env-worker-<index>. Also how a drill adds one more worker to a running stack."""
    host = socket.gethostname().split(".")[0] or "local"
    if index is None:
        return ServiceProcess("env-worker", env | {"WORKER_ID": f"{host}-worker"}, logs)
    if index < 1:
        raise ValueError(f"Expected a worker index of 1 or more, got {index}")
    return ServiceProcess("env-worker", env | {"WORKER_ID": f"{host}-worker-{index}"}, logs,
                          name=f"env-worker-{index}")


def worker_processes(count: int, env: dict[str, str], logs: Path) -> list[ServiceProcess]:
    """`count` env-worker processes (worker_process); one alone is named env-worker, as before several."""
    if count == 1:
        return [worker_process(None, env, logs)]
    return [worker_process(i, env, logs) for i in range(1, count + 1)]


def dev_settings(workers: int | None = None) -> DevSettings:
    """The settings from the environment, `workers` (the --workers flag) overriding WORKER_PROCESSES; a bad value
    is a SystemExit naming what was expected."""
    try:
        settings = DevSettings()
        if workers is not None:
            settings = DevSettings.model_validate(settings.model_dump() | {"worker_processes": workers})
    except ValidationError as err:
        first = err.errors()[0]
        where = "--workers" if workers is not None and first["loc"] == ("worker_processes",) else None
        msg = first["msg"].removeprefix("Value error, ")
        if where:  # (pydantic's "less than or equal to 256" names no flag)
            raise SystemExit(f"error: Expected --workers to be a whole number from 1 to {MAX_WORKERS}, "
                             f"got {workers}") from None
        raise SystemExit(f"error: {msg}") from None
    return settings


def run_dev(root: Path, port: int = 8000, database_url: str | None = None, *,
            nats_port: int | None = PREFERRED_NATS_PORT, s3_port: int | None = PREFERRED_S3_PORT,
            workers: int | None = None) -> None:
    """Run the stack until SIGINT/SIGTERM, restarting whatever dies; then stop services, then servers. `workers`:
    env-worker processes (default WORKER_PROCESSES, else one per core)."""
    settings = dev_settings(workers)
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = _lock(root)  # noqa: F841 - held until the process exits
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    print(f"starting NATS, PostgreSQL and S3 under {root} ...", flush=True)
    nats_port = nats_port if nats_port and port_is_free("127.0.0.1", nats_port) else None
    s3_port = s3_port if s3_port and port_is_free("127.0.0.1", s3_port) else None
    with DevStack(root / "servers", database_url=database_url, nats_port=nats_port, s3_port=s3_port) as stack:
        upgrade(stack.database_url)
        token = _designer_token(root, stack.database_url)
        password = _designer_password(root, stack.database_url)
        url = f"http://127.0.0.1:{port}"
        sign_in = (f"designer sign-in: {url}/signin  name {LOCAL_ACCOUNT}  password {password}" if password else
                   f"designer sign-in: {url}/signin  name {LOCAL_ACCOUNT}  (password changed since {root}/"
                   "designer-password was made)")
        config = save_credentials(url, token)
        env = stack.env()
        web_app = {"FRONTEND_DIR": str(settings.frontend_dir)} if settings.frontend_dir else {}
        if not web_app:
            print("no web app: FRONTEND_DIR is not set (`make run` sets it to the checkout's frontend/dist, built by "
                  "`make frontend`)", flush=True)
        logs = root / "logs"
        procs = [
            ServiceProcess("gateway", env | web_app, logs, port=port),
            *worker_processes(settings.worker_processes, env, logs),
            ServiceProcess("recorder", env, logs),
            ServiceProcess("exporter", env, logs),
        ]
        try:
            start_all(procs)
            with Supervisor(stack_components(stack, procs)):
                print(
                    f"\nPlaycorder is running at {url}  (API docs: {url}/docs)\n"
                    f"  {sign_in}\n"
                    f"  designer token for the CLI stored in {config}\n"
                    f"  env-workers: {settings.worker_processes} processes (--workers, WORKER_PROCESSES)\n"
                    f"  logs: {logs}\n"
                    f"  NATS: nats://{stack.nats.address} (user and password in {stack.nats.credentials_file})\n"
                    f"  a service or server that dies is restarted, with backoff\n"
                    f"  try: .venv/bin/playcorder studies create examples/pong.yaml\n"
                    f"Press Ctrl-C to stop.",
                    flush=True,
                )
                while not stop.wait(1.0):  # a timeout, so the signal handler gets to run
                    pass
        finally:
            print("stopping services ...", flush=True)
            stop_all(procs)
            print("stopping servers ...", flush=True)
    print("stopped.")
