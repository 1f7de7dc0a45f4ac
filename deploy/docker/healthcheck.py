"""The images' HEALTHCHECK (Docker, Compose): GET http://127.0.0.1:<port>/healthz, where the port is the value of the
environment variable named by the one argument (GATEWAY_PORT, WORKER_PORT, RECORDER_PORT, EXPORTER_PORT); exit 0
on 200, 1 otherwise with the reason. Kubernetes ignores HEALTHCHECK: the chart probes /healthz and /readyz itself.
Standard library only: it runs with the image's Python and nothing else, and writes no file."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

PORT_VARIABLES = ("GATEWAY_PORT", "WORKER_PORT", "RECORDER_PORT", "EXPORTER_PORT")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PORT_VARIABLES:
        print(f"Expected one argument, the port variable, one of {', '.join(PORT_VARIABLES)}; got {argv}",
              file=sys.stderr)
        return 2
    port = os.environ.get(argv[0], "")
    if not port.isdigit() or not 0 < int(port) < 65536:
        print(f"Expected {argv[0]} to be a port number (1-65535), got {port!r}", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status = response.status
    except (urllib.error.URLError, OSError) as err:
        print(f"Expected {url} to answer 200, got {err}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"Expected {url} to answer 200, got {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
