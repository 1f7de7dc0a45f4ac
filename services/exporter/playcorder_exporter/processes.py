"""The exporter's extra processes (EXPORTER_PROCESSES - 1): each runs an ExportService of its own on the same
work queue, without HTTP. They stop on SIGTERM from the main process, and by themselves when it is gone."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from multiprocessing.process import BaseProcess

from nats.aio.client import Client as NATS

from playcorder.bus import connect, ensure_streams, subjects_for
from playcorder.db.engine import make_engine, make_sessionmaker
from playcorder.storage import ObjectStore

from .jobs import ExportService
from .settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_service(settings: Settings, name: str = "exporter") -> AsyncIterator[tuple[NATS, ExportService]]:
    engine = make_engine(settings.database.url)
    objects = ObjectStore(settings.s3)
    await objects.ensure_bucket()
    nc = await connect(settings.nats, name=name)
    subjects = subjects_for(settings.nats)
    await ensure_streams(nc, subjects, settings.nats.record_max_bytes)
    service = ExportService(nc, subjects, make_sessionmaker(engine), objects, settings.export_concurrency,
                            settings.export_workdir, shard_steps=settings.export_shard_steps,
                            ack_wait_s=settings.export_ack_wait_s)
    try:
        yield nc, service
    finally:
        await nc.drain()
        await engine.dispose()


async def _serve(index: int) -> None:
    settings = Settings()  # type: ignore[call-arg]
    parent = os.getppid()
    async with open_service(settings, name=f"exporter-{index}") as (_, service):
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, service.stop)
        loop.add_signal_handler(signal.SIGINT, service.stop)

        async def orphaned() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1)
            log.warning("exporter process %d: the main process is gone, stopping", index)
            service.stop()

        watch = asyncio.create_task(orphaned())
        await service.run()
        watch.cancel()


def _main(index: int) -> None:
    level = Settings().log_level  # type: ignore[call-arg]
    logging.basicConfig(level=level, format=f"%(asctime)s %(levelname)s exporter-{index} %(name)s: %(message)s")
    asyncio.run(_serve(index))


class ExtraProcesses:
    def __init__(self, count: int) -> None:
        self.count = count
        self._procs: list[BaseProcess] = []

    def start(self) -> None:
        # spawn, not fork: the parent has an event loop, threads and sockets.
        ctx = multiprocessing.get_context("spawn")
        for i in range(1, self.count + 1):
            p = ctx.Process(target=_main, args=(i,), name=f"exporter-{i}", daemon=True)
            p.start()
            self._procs.append(p)

    def alive(self) -> bool:
        return all(p.is_alive() for p in self._procs)

    def stop(self) -> None:
        for p in self._procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: finish the task at hand's message loop and leave

    def join(self, timeout: float = 30) -> None:
        for p in self._procs:
            p.join(timeout)
            if p.is_alive():
                p.kill()
