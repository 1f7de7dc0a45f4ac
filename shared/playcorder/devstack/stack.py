"""NATS, PostgreSQL and S3 started together under one root dir: the backends of a local Playcorder."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from playcorder.devstack.nats import NatsServer
from playcorder.devstack.postgres import PostgresServer
from playcorder.devstack.s3 import S3Server

DATABASE = "playcorder"


class _Server(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class DevStack:
    def __init__(
        self,
        root: Path,
        *,
        s3_access_key: str = "playcorder",
        s3_secret_key: str = "playcorder-dev-secret",
        database_url: str | None = None,
        nats_port: int | None = None,
        s3_port: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.nats = NatsServer(self.root / "nats", port=nats_port)
        self.s3 = S3Server(self.root / "s3", s3_access_key, s3_secret_key, port=s3_port)
        # A given database_url means the caller brings its own Postgres; none is started then.
        self.postgres = None if database_url else PostgresServer(self.root / "postgres")
        if database_url and database_url.startswith(("postgresql://", "postgres://")):
            database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
        self._database_url = database_url

    @property
    def nats_url(self) -> str:
        return self.nats.url

    @property
    def database_url(self) -> str:
        """SQLAlchemy asyncpg URL (postgresql+asyncpg://...)."""
        if self._database_url is not None:
            return self._database_url
        assert self.postgres is not None
        return self.postgres.url(DATABASE)

    @property
    def s3_endpoint(self) -> str:
        return self.s3.endpoint

    @property
    def s3_access_key(self) -> str:
        return self.s3.access_key

    @property
    def s3_secret_key(self) -> str:
        return self.s3.secret_key

    def env(self) -> dict[str, str]:
        """The variables the services read their backends from."""
        return {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "S3_ENDPOINT": self.s3_endpoint,
            "S3_ACCESS_KEY": self.s3_access_key,
            "S3_SECRET_KEY": self.s3_secret_key,
            "S3_SECURE": "false",
        }

    @property
    def _servers(self) -> list[_Server]:
        return [server for server in (self.postgres, self.nats, self.s3) if server is not None]

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            # Threads: each start mostly waits on a child process, so together they take as long as the slowest.
            with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
                futures = [pool.submit(server.start) for server in self._servers]
            for future in futures:
                future.result()
            if self.postgres is not None:
                self.postgres.create_database(DATABASE)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop in reverse start order; safe to call twice and on servers that never started."""
        first_error: Exception | None = None
        for server in reversed(self._servers):
            try:
                server.stop()
            except Exception as err:  # keep stopping the rest, report the first
                first_error = first_error or err
        if first_error is not None:
            raise first_error

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
