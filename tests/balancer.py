"""A TCP load balancer for tests, as a Kubernetes Service over gateway replicas behaves: each new connection goes to
the first backend whose /readyz answers 200 (a draining gateway answers 503 and gets no new connections); an open
connection stays where it is."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from playcorder.devstack.ports import free_port


class Balancer:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends  # http://host:port of each replica
        self.port = free_port()
        self.chosen: list[str] = []  # the backend of each connection, in order
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _ready(self) -> str | None:
        async with httpx.AsyncClient(timeout=0.5) as http:
            for backend in self.backends:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{backend}/readyz")).status_code == 200:
                        return backend
        return None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = await self._ready()
        if backend is None:  # no replica ready: the connection is refused, as by a Service without endpoints
            writer.close()
            return
        self.chosen.append(backend)
        host, port = backend.split("://", 1)[1].split(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
