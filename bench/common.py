"""What the bench scripts share: a `playcorder dev` stack of their own, the designer credentials it saved, the CPU
time and memory of a service's processes, percentiles, and the JSON result with the facts needed to trust a number
later (commit, date, cores, machine load, what else was using the CPU meanwhile).

Why CPU time: on a shared 2-core machine wall-clock rates mostly measure the neighbours, while the CPU seconds a
process spent per unit of work barely move; the bench scripts report both, and each result says how busy the
machine was so a reader can tell a quiet run from a noisy one.

Import it from a bench script as `import common` (scripts run as `python bench/NAME.py`, so bench/ is on sys.path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent

# The module each service runs as (`python -m MODULE`, devstack/services.py); several processes per kind may run.
SERVICE_MODULES = {"gateway": "playcorder_gateway", "env-worker": "playcorder_env_worker",
                   "recorder": "playcorder_recorder", "exporter": "playcorder_exporter"}

# `playcorder dev` as `make run` starts it, except that it never takes the stable NATS/S3 ports (4322, 9000) a
# `make run` of the same user may hold or want: a bench stack must not change the ports another stack hands out.
_LAUNCH = ("import sys; from pathlib import Path; from playcorder.devstack.launcher import run_dev; "
           "run_dev(Path(sys.argv[1]), port=int(sys.argv[2]), nats_port=None, s3_port=None)")
_READY_LINE = "Playcorder is running at"


# -- arguments ---------------------------------------------------------------------------------------------------

def parser(doc: str | None, *, stack: bool) -> argparse.ArgumentParser:
    """The options every bench script has: --json PATH, --quick, and --url for those that play against a stack."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the result, with metadata, to PATH")
    p.add_argument("--quick", action="store_true", help="fewer repetitions: what `make bench` runs")
    if stack:
        p.add_argument("--url", help="the gateway (default: $PLAYCORDER_URL, then the saved default); its designer "
                                     "token comes from $PLAYCORDER_TOKEN or what `playcorder dev` saved for it")
    return p


def designer_credentials(url: str | None = None) -> tuple[str, str]:
    """The gateway URL and a designer token, as `playcorder dev` saved them (or $PLAYCORDER_URL/$PLAYCORDER_TOKEN)."""
    from playcorder.sdk import load_credentials

    url, token = load_credentials(url)
    if not token:
        raise SystemExit(f"error: expected a designer token for {url} (saved by `playcorder dev`, or "
                         "$PLAYCORDER_TOKEN), got none; start the stack first (`make run`)")
    return url, token


# -- numbers -----------------------------------------------------------------------------------------------------

def percentiles(values: Sequence[float], points: Iterable[int] = (50, 95, 99), scale: float = 1e3,
                digits: int = 1) -> dict[str, float]:
    """{"p50": ..., "p95": ..., ...} of `values` times `scale` (seconds -> ms by default). Inclusive method: a
    percentile never exceeds the largest value, which matters for p99 of a few dozen samples (then ~ the max)."""
    if len(values) < 2:
        raise ValueError(f"Expected at least 2 values for percentiles, got {len(values)}")
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {f"p{p}": round(q[p - 1] * scale, digits) for p in points}


# -- processes ---------------------------------------------------------------------------------------------------

def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _is_service(proc: psutil.Process, kind: str) -> bool:
    cmd = _cmdline(proc)
    module = SERVICE_MODULES[kind]
    return any(a == "-m" and b == module for a, b in zip(cmd, cmd[1:], strict=False))


@dataclass
class StackProcesses:
    """The processes of one local stack: the launcher (`playcorder dev`) and everything it started."""

    launcher: psutil.Process

    def of(self, kind: str) -> list[psutil.Process]:
        """Every process of a service kind (`recorder`, `env-worker`, ...): a list, as one kind may run several."""
        if kind not in SERVICE_MODULES:
            raise ValueError(f"Expected a service kind in {sorted(SERVICE_MODULES)}, got {kind!r}")
        found = [p for p in self.launcher.children(recursive=True) if _is_service(p, kind)]
        if not found:
            raise LookupError(f"Expected a {kind} process under pid {self.launcher.pid}, got none")
        return found

    def tree(self, kind: str) -> list[psutil.Process]:
        """The service's processes and theirs (an exporter's build processes, say): what its work costs."""
        return [q for p in self.of(kind) for q in (p, *p.children(recursive=True))]

    def all(self) -> list[psutil.Process]:
        return [self.launcher, *self.launcher.children(recursive=True)]

    def _service_env(self, name: str) -> str:
        environ = self.of("gateway")[0].environ()
        if name not in environ:
            raise LookupError(f"Expected {name} in the gateway's environment, got none")
        return environ[name]

    def nats_url(self) -> str:
        """The NATS URL the services got (credentials included: never print it)."""
        return self._service_env("NATS_URL")

    def servers(self) -> dict[str, list[psutil.Process]]:
        """NATS, PostgreSQL and S3 processes, each found by the port the services reach it on (the embedded
        PostgreSQL daemonizes, so it is no child of the launcher); a server not on this machine is left out."""
        out = {}
        for name, var in (("nats", "NATS_URL"), ("postgres", "DATABASE_URL"), ("s3", "S3_ENDPOINT")):
            value = self._service_env(var)
            parts = urlsplit(value if "://" in value else f"//{value}")
            socket_dir = parse_qs(parts.query).get("host", [""])[0]  # the embedded PostgreSQL: a unix socket
            server = _listener(parts.port) if parts.port else _unix_listener(socket_dir) if socket_dir else None
            if server is not None:
                out[name] = [server, *server.children(recursive=True)]
        return out


def _listener(port: int) -> psutil.Process | None:
    """The local process listening on a TCP port, if any."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def _unix_listener(directory: str) -> psutil.Process | None:
    """The local process listening on a unix socket in `directory`, if any."""
    for conn in psutil.net_connections("unix"):
        if conn.status == psutil.CONN_NONE and conn.laddr and str(conn.laddr).startswith(directory.rstrip("/") + "/") \
                and conn.pid:
            proc = psutil.Process(conn.pid)  # maybe a backend holding an accepted connection: up to the server
            while (parent := proc.parent()) is not None and parent.name() == proc.name():
                proc = parent
            return proc
    return None


def processes_behind(url: str) -> StackProcesses:
    """The local stack whose gateway listens on `url`'s port: found through the listening socket, so several
    stacks on one machine (other benches, test runs) are told apart."""
    port = urlsplit(url).port or 80
    gateway = _listener(port)
    if gateway is None:
        raise LookupError(f"Expected a local gateway listening on port {port} (of {url}), got none: this "
                          "measurement reads the services' CPU time, so the stack must run on this machine")
    if not _is_service(gateway, "gateway"):
        raise LookupError(f"Expected a Playcorder gateway process on port {port}, got pid {gateway.pid}: "
                          f"{' '.join(_cmdline(gateway))[:120]}")
    parent = gateway.parent()
    if parent is None:
        raise LookupError(f"Expected the gateway on port {port} (pid {gateway.pid}) to have a launcher")
    return StackProcesses(parent)


def cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    """User + system CPU seconds the processes have used so far (their own threads, not their children)."""
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def rss_bytes(procs: Iterable[psutil.Process]) -> int:
    return sum(p.memory_info().rss for p in procs)


class CpuMeter:
    """CPU seconds a fixed set of processes spends between start() and stop(). Strict (the default) refuses a
    result if one of them ended meanwhile: a restarted service's CPU time would silently go missing. Not strict
    (a server's short-lived children, PostgreSQL backends), the ended ones' share is left out: a lower bound."""

    def __init__(self, procs: Sequence[psutil.Process], strict: bool = True) -> None:
        self.procs, self.strict = list(procs), strict
        self._start: dict[int, float] = {}

    def start(self) -> CpuMeter:
        self._start = {p.pid: _cpu(p) or 0.0 for p in self.procs}
        return self

    def stop(self) -> float:
        now = {p.pid: _cpu(p) for p in self.procs}
        gone = [pid for pid, cpu in now.items() if cpu is None]
        if gone and self.strict:
            raise RuntimeError(f"Expected the measured processes to run throughout, got pids {gone} ended; "
                               "see the stack's logs")
        return sum(cpu - self._start[pid] for pid, cpu in now.items() if cpu is not None)


def _cpu(proc: psutil.Process) -> float | None:
    try:
        if not proc.is_running():
            return None
        t = proc.cpu_times()
    except psutil.Error:
        return None
    return float(t.user + t.system)


def _cpu_snapshot() -> dict[int, tuple[str, float]]:
    out = {}
    for p in psutil.process_iter(["cmdline", "name", "cpu_times"]):
        t = p.info["cpu_times"]
        if t is not None:
            name = " ".join(p.info["cmdline"] or []) or p.info["name"] or "?"
            out[p.pid] = (name[:100], t.user + t.system)
    return out


def _tree(pid: int) -> set[int]:
    try:
        p = psutil.Process(pid)
        return {pid, *(c.pid for c in p.children(recursive=True))}
    except psutil.Error:
        return {pid}


# -- the machine, and what else ran ------------------------------------------------------------------------------

def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


@dataclass
class Observation:
    """The machine around one measurement: load average before and after, and every process outside the
    measured ones that used at least `threshold` CPU seconds meanwhile (the neighbours a reader must know of)."""

    ours: set[int] = field(default_factory=lambda: {os.getpid()})
    threshold: float = 0.5
    _before: dict[int, tuple[str, float]] = field(default_factory=dict)
    _load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _t0: float = 0.0
    _started: str = ""

    def start(self) -> Observation:
        self._load, self._t0 = os.getloadavg(), time.monotonic()
        self._started = datetime.now(UTC).isoformat(timespec="seconds")
        self._before = _cpu_snapshot()
        return self

    def finish(self, also_ours: Iterable[int] = ()) -> dict[str, Any]:
        after = _cpu_snapshot()
        wall = time.monotonic() - self._t0
        ours = {pid for root in (*self.ours, *also_ours) for pid in _tree(root)}
        others = []
        for pid, (name, cpu) in after.items():
            used = cpu - self._before.get(pid, (name, 0.0))[1]
            if pid not in ours and used >= self.threshold:
                others.append({"pid": pid, "cmd": name, "cpu_s": round(used, 2)})
        others.sort(key=lambda o: -o["cpu_s"])
        return {**git_commit(), "started": self._started, "wall_s": round(wall, 1), "cpu_count": os.cpu_count(),
                "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
                "python": platform.python_version(), "loadavg_before": [round(x, 2) for x in self._load],
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "other_processes_cpu_s": round(sum(o["cpu_s"] for o in others), 1), "others": others[:8]}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


class Result:
    """One benchmark's JSON object: its numbers at the top level, `params` (what was run), `meta` (Observation),
    and on failure `ok: false` plus `error`; printed on stdout and, with --json, written to PATH, failures
    included, so `make bench` shows which benchmark broke and why.

        with common.Result("recording_latency", args) as result:
            result.update(p99_ms=...)
    """

    def __init__(self, name: str, args: argparse.Namespace, **params: Any) -> None:
        self.name, self.path, self.quick = name, getattr(args, "json", None), bool(getattr(args, "quick", False))
        self.params = params
        self.numbers: dict[str, Any] = {}
        self.observation = Observation()
        self.also_ours: list[int] = []  # e.g. a stack started for this benchmark alone

    def update(self, **numbers: Any) -> None:
        self.numbers.update(numbers)

    def under_test(self, url: str) -> StackProcesses | None:
        """The local stack behind `url`, its processes and servers counted as the measured ones (not as "others"
        in meta); None when it is not on this machine."""
        try:
            procs = processes_behind(url)
            servers = procs.servers()
        except (LookupError, psutil.Error):
            return None
        self.also_ours += [procs.launcher.pid, *(s[0].pid for s in servers.values())]
        return procs

    def __enter__(self) -> Result:
        self.observation.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: object) -> bool:
        out: dict[str, Any] = {"benchmark": self.name, "ok": err is None, "quick": self.quick, "params": self.params,
                               **self.numbers}
        if err is not None:
            out["error"] = f"{kind.__name__ if kind else 'error'}: {err}"[:2000]
        out["meta"] = self.observation.finish(self.also_ours)
        print(json.dumps({k: v for k, v in out.items() if k != "meta"}), flush=True)
        if self.path:
            write_json(self.path, out)
        if isinstance(err, SystemExit) and err.code in (0, None):
            return False
        if err is not None and not isinstance(err, KeyboardInterrupt):
            print(f"error: {out['error']}", file=sys.stderr)
            raise SystemExit(1)
        return False


# -- a stack of our own ------------------------------------------------------------------------------------------

def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now: SO_REUSEADDR as uvicorn binds, so the TIME_WAIT sockets a
    stack stopped a moment ago leaves behind do not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_in(ports: Iterable[int]) -> int:
    for port in ports:
        if port_is_free(port):
            return port
    raise RuntimeError(f"Expected a free port in {list(ports)}, got all taken")


class BenchStack:
    """`playcorder dev` under a temporary root on `port`, with extra environment for the services
    (e.g. {"WORKER_CAPACITY": "128"}); ready once every service answered /readyz. Its credentials are saved to
    <root>/config.json, not the user's config, so a bench never changes which server the CLI talks to;
    `script_env()` hands them to child scripts. Stopped with SIGINT, as Ctrl-C would, on exit."""

    def __init__(self, port: int, env: dict[str, str] | None = None, root: Path | None = None,
                 timeout: float = 240.0) -> None:
        self.port, self.extra_env, self.timeout = port, dict(env or {}), timeout
        self._own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="playcorder-bench-"))
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._children: list[psutil.Process] = []
        self.started_s = 0.0

    @property
    def log_path(self) -> Path:
        return self.root / "dev.log"

    @property
    def token(self) -> str:
        return (self.root / "designer-token").read_text().strip()

    def script_env(self) -> dict[str, str]:
        return {"PLAYCORDER_URL": self.url, "PLAYCORDER_TOKEN": self.token,
                "PLAYCORDER_CONFIG": str(self.root / "config.json")}

    @property
    def processes(self) -> StackProcesses:
        assert self.process is not None, "start() first"
        return StackProcesses(psutil.Process(self.process.pid))

    def measured_pids(self) -> list[int]:
        """The launcher and the servers (the embedded PostgreSQL is no child of it): what `Observation` must
        count as the stack under test, not as a neighbour."""
        try:
            return [self.processes.launcher.pid, *(s[0].pid for s in self.processes.servers().values())]
        except (LookupError, psutil.Error, AssertionError):
            return [self.process.pid] if self.process else []

    def start(self) -> BenchStack:
        if not port_is_free(self.port):
            raise RuntimeError(f"Expected port {self.port} free for the bench gateway, got it taken; pass another")
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PLAYCORDER_URL", "PLAYCORDER_TOKEN")}
        env |= {"PLAYCORDER_CONFIG": str(self.root / "config.json"), **self.extra_env}
        t0 = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(self.root), str(self.port)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                        start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while not self._ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                why = (f"exited with {self.process.returncode}" if self.process.poll() is not None
                       else f"not ready within {self.timeout:g} s")
                tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
                self.stop()
                raise RuntimeError(f"Expected `playcorder dev` ready on {self.url}, got: {why}; {self.log_path}:\n"
                                   f"{tail}")
        httpx.get(f"{self.url}/readyz", timeout=10).raise_for_status()
        self._children = self.processes.all()[1:]
        self.started_s = time.monotonic() - t0
        return self

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with open(self.log_path, "a") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                if _READY_LINE in line:
                    self._ready.set()

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:  # stuck: end it and what it started, each by its pid
                for p in [psutil.Process(self.process.pid), *self._children]:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                self.process.wait()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
