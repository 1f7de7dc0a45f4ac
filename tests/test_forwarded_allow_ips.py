"""FORWARDED_ALLOW_IPS (the chart's gateway.forwardedAllowIps) reaches uvicorn: behind a proxy it trusts, the
per-address arrival limit counts each client's X-Forwarded-For address; behind one it does not, the header is
ignored and every arrival is the proxy's (so one flooder could not pass as many by making up the header)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from tests.conftest import Services

pytestmark = pytest.mark.e2e
NO_CAMPAIGN = "0" * 32  # the limit is taken before the campaign is looked up: 404 while under it, 429 past it


def _arrive(gateway: ServiceProcess, client: str) -> int:
    r = httpx.post(f"{gateway.url}/api/c/{NO_CAMPAIGN}/enroll", json={"params": {"participant": "p"}},
                   headers={"X-Forwarded-For": client}, timeout=30)
    return r.status_code


def test_the_arrival_limit_sees_the_client_only_behind_a_trusted_proxy(services: Services, tmp_path: Path) -> None:
    one_each = services.env | {"ENROLL_BURST": "1", "ENROLL_RATE": "1"}
    trusting = ServiceProcess("gateway", one_each | {"FORWARDED_ALLOW_IPS": "127.0.0.1"}, tmp_path,
                              name="gateway-trusting")
    distrusting = ServiceProcess("gateway", one_each | {"FORWARDED_ALLOW_IPS": "192.0.2.1"}, tmp_path,
                                 name="gateway-distrusting")  # another host's proxy: not the test's 127.0.0.1
    start_all([trusting, distrusting])
    try:
        assert [_arrive(trusting, ip) for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.1")] == [404, 404, 429]
        assert [_arrive(distrusting, ip) for ip in ("198.51.100.1", "198.51.100.2")] == [404, 429]
    finally:
        stop_all([trusting, distrusting])
