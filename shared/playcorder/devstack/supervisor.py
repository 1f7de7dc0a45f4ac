"""Keeps the dev stack running as Kubernetes would: a service or server that dies is restarted with exponential
backoff (and its death reported, with its exit status and the end of its log) while the others keep running.

Each component has a watcher thread of its own, so a slow restart (S3 takes seconds) never delays another. The
supervisor only watches and restarts; whoever started the components stops them, after stopping the supervisor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from .nats import NatsServer
from .postgres import PostgresServer
from .s3 import S3Server
from .services import ServiceProcess
from .stack import DevStack

TAIL_LINES = 15


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th restart in a row: `first`, doubling up to `longest`; a component that stayed up for
    `reset_after` seconds starts again from `first` (Kubernetes: 10 s doubling to 5 min, reset after 10 min)."""

    first: float = 0.5
    longest: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.longest, self.first * 2 ** max(0, failures - 1)))


class Component(Protocol):
    """What the supervisor needs of a thing it keeps running."""

    @property
    def name(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def log_file(self) -> Path: ...
    def exited(self) -> str | None:
        """None while it runs; else how it ended ("exit code 1", "killed by SIGKILL")."""
    def restart(self) -> None:
        """Start it again in place (same port, data and log), returning once it serves; raises if it cannot."""


def exit_status(process: subprocess.Popen[bytes] | None) -> str | None:
    if process is None:
        return "not running"
    code = process.poll()
    if code is None:
        return None
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - 64 * 1024))  # the end is enough
            return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err.strerror})"


@dataclass
class Service:
    """A Playcorder service process; restarted it listens on the same port, appending to the same log."""

    process: ServiceProcess
    ready_timeout: float = 60.0

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def pid(self) -> int | None:
        p = self.process.process
        return p.pid if p is not None and p.poll() is None else None

    @property
    def log_file(self) -> Path:
        return self.process.log_path

    def exited(self) -> str | None:
        return exit_status(self.process.process)

    def restart(self) -> None:
        self.process.stop()
        self.process.start()
        self.process.wait_ready(self.ready_timeout)


@dataclass
class Server:
    """NATS or S3: a child process of ours, restarted on the same port and data dir."""

    name: str
    server: NatsServer | S3Server

    @property
    def pid(self) -> int | None:
        p = self.server.process
        return p.pid if p is not None and p.poll() is None else None

    @property
    def log_file(self) -> Path:
        return self.server.log_file

    def exited(self) -> str | None:
        return exit_status(self.server.process)

    def restart(self) -> None:
        self.server.restart()


@dataclass
class Postgres:
    """The embedded PostgreSQL: its postmaster is no child of ours, so its exit code is unknown."""

    server: PostgresServer
    name: str = "postgres"

    @property
    def pid(self) -> int | None:
        return self.server.pid

    @property
    def log_file(self) -> Path:
        return self.server.log_file

    def exited(self) -> str | None:
        return None if self.server.pid is not None else "postmaster gone"

    def restart(self) -> None:
        self.server.restart()


def stack_components(stack: DevStack, services: Iterable[ServiceProcess] = ()) -> list[Component]:
    """The stack's servers, then the services, as components to supervise."""
    servers: list[Component] = [Postgres(stack.postgres)] if stack.postgres is not None else []
    servers += [Server("nats", stack.nats), Server("s3", stack.s3)]
    return servers + [Service(p) for p in services]


@dataclass
class _Record:
    deaths: int = 0
    restarts: int = 0
    failures: int = 0  # deaths since it last stayed up for Backoff.reset_after
    events: list[str] = field(default_factory=list)


def _say(line: str) -> None:
    print(line, flush=True)


class Supervisor:
    """Watches components in threads and restarts the dead; a context manager (or start()/stop()).

    Tests query `restarts(name)` and `deaths(name)`, or wait with `wait_restarts(name, n)`; `kill(name)` sends
    SIGKILL, as a crash would.
    """

    def __init__(self, components: Iterable[Component], *, backoff: Backoff | None = None,
                 report: Callable[[str], None] = _say, poll_interval: float = 0.2) -> None:
        self.components = {c.name: c for c in components}
        self.backoff = backoff or Backoff()
        self.report = report
        self.poll_interval = poll_interval
        self._records = {name: _Record() for name in self.components}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._threads = [threading.Thread(target=self._watch, args=(c,), name=f"supervise {c.name}", daemon=True)
                         for c in self.components.values()]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        """Stop watching (a restart under way finishes first); the components keep running."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def restarts(self, name: str) -> int:
        with self._lock:
            return self._records[name].restarts

    def deaths(self, name: str) -> int:
        with self._lock:
            return self._records[name].deaths

    def events(self, name: str) -> list[str]:
        """What was reported about `name`, oldest first."""
        with self._lock:
            return list(self._records[name].events)

    def kill(self, name: str) -> int:
        """SIGKILL `name` as a crash would, and return its pid; the supervisor finds out as it would of a crash."""
        pid = self.components[name].pid
        if pid is None:
            raise RuntimeError(f"Expected {name} to be running, got no process")
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarts(self, name: str, count: int, timeout: float = 60.0) -> None:
        """Block until `name` has been restarted `count` times and runs."""
        deadline = time.monotonic() + timeout
        while self.restarts(name) < count or self.components[name].exited() is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Expected {name} restarted {count} time(s) within {timeout:g} s, got "
                                   f"{self.restarts(name)}; reported: {self.events(name)}")
            time.sleep(0.05)

    def _note(self, name: str, line: str) -> None:
        with self._lock:
            self._records[name].events.append(line)
        self.report(line)

    def _watch(self, component: Component) -> None:
        record = self._records[component.name]
        up_since = time.monotonic()
        while not self._stop.wait(self.poll_interval):
            status = component.exited()
            if status is None:
                if record.failures and time.monotonic() - up_since >= self.backoff.reset_after:
                    record.failures = 0
                continue
            with self._lock:
                record.deaths += 1
                record.failures += 1
            delay = self.backoff.delay(record.failures)
            self._note(component.name, (
                f"{component.name} died ({status}); restarting it in {delay:g} s. "
                f"Last lines of {component.log_file}:\n{textwrap.indent(tail(component.log_file), '    ')}"))
            if self._stop.wait(delay):
                return
            self._restart(component, record)
            up_since = time.monotonic()

    def _restart(self, component: Component, record: _Record) -> None:
        try:
            component.restart()
        except Exception as err:  # reported; the next look finds it dead and backs off further
            self._note(component.name, f"{component.name} failed to restart: {err}")
            return
        with self._lock:
            record.restarts += 1
        self._note(component.name, f"{component.name} restarted (pid {component.pid}, restart {record.restarts})")
