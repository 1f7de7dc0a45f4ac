"""The gateway serves the built web app (frontend/dist, `make frontend`) and the API docs without internet: the app's
pages load from any of its paths (a reload of /studies/ID), /docs and /redoc name only local scripts and styles, and
those load; the API's own paths still answer as the API does (a JSON 404), never with the app."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from playcorder.devstack.services import ServiceProcess
from playcorder.devstack.stack import DevStack

DIST = Path(__file__).resolve().parent.parent / "frontend" / "dist"


@pytest.fixture(scope="module")
def web(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert (DIST / "index.html").is_file(), f"Expected the built web app in {DIST}, got none: run `make frontend`"
    gateway = ServiceProcess("gateway", stack.env() | {"FRONTEND_DIR": str(DIST)}, tmp_path_factory.mktemp("web"),
                             name="web-gateway")
    gateway.start()
    try:
        gateway.wait_ready()
        yield gateway.url
    finally:
        gateway.stop()


def _local_refs(html: str) -> list[str]:
    """Every script, stylesheet, icon and spec URL a docs page loads."""
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    refs += re.findall(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)
    return refs


@pytest.mark.parametrize("path", ["/", "/studies/some-study", "/episodes/x/y", "/live/abc", "/signin"])
def test_every_page_path_loads_the_app(web: str, path: str) -> None:
    r = httpx.get(web + path)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["content-type"].startswith("text/html")
    assert '<div id="root">' in r.text
    assert r.headers["cache-control"] == "no-cache"  # a new build is seen on the next load
    for script in re.findall(r'src="(/assets/[^"]+)"', r.text):  # the app's own bundle loads, cached for good
        asset = httpx.get(web + script)
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
        assert "immutable" in asset.headers["cache-control"]


def test_participant_link_loads_the_app(web: str) -> None:
    r = httpx.get(web + "/?token=abc")
    assert r.status_code == 200 and '<div id="root">' in r.text


@pytest.mark.parametrize("path", ["/assets/missing.js", "/vendor/nothing.css"])
def test_missing_build_file_is_a_404_not_the_app(web: str, path: str) -> None:
    r = httpx.get(web + path)
    assert r.status_code == 404
    assert '<div id="root">' not in r.text


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_path_is_still_a_json_404(web: str, method: str) -> None:
    r = httpx.request(method, web + "/api/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": "Not Found"}


def test_api_still_answers_beside_the_app(web: str) -> None:
    assert httpx.get(web + "/api/studies").status_code == 401  # the API, not index.html
    assert httpx.get(web + "/openapi.json").json()["info"]["title"] == "Playcorder gateway"


@pytest.mark.parametrize("path, marker", [("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")])
def test_api_docs_load_only_local_assets(web: str, path: str, marker: str) -> None:
    r = httpx.get(web + path)
    assert r.status_code == 200 and marker in r.text
    refs = _local_refs(r.text)
    assert any(ref.endswith(".js") for ref in refs), refs
    assert "/openapi.json" in refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), f"Expected only local URLs in {path}, got {ref}"
        loaded = httpx.get(web + ref)
        assert loaded.status_code == 200, f"{ref} of {path}: {loaded.status_code}"
        assert len(loaded.content) > 100
        if ref.endswith(".js"):  # nor do the scripts fetch from a CDN themselves (ReDoc's logo did)
            assert "https://cdn." not in loaded.text, f"{ref} loads from a CDN"
    assert "fonts.googleapis" not in r.text and "cdn.jsdelivr" not in r.text


APP_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
           "base-uri 'self'; form-action 'self'; connect-src 'self' ws: wss:; script-src 'self'")
SAFE = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


@pytest.mark.parametrize("path", ["/", "/?token=abc", "/studies/x", "/api/studies", "/api/no-such-thing", "/healthz",
                                  "/openapi.json", "/assets/missing.js", "/docs", "/redoc"])
def test_every_response_carries_the_security_headers(web: str, path: str) -> None:
    r = httpx.get(web + path)
    assert {k: r.headers.get(k) for k in SAFE} == SAFE, path  # no Referer leaks a participant's ?token=
    if '<div id="root">' in r.text:  # the app's pages: only its own scripts
        assert r.headers["content-security-policy"] == APP_CSP
    elif not path.startswith(("/docs", "/redoc")):
        assert "content-security-policy" not in r.headers


def test_only_a_campaigns_page_may_be_framed_by_mturk_and_post_to_it(web: str) -> None:
    page = httpx.get(web + "/c/0123")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://www.mturk.com https://workersandbox.mturk.com" in policy
    assert "form-action 'self' https://www.mturk.com https://workersandbox.mturk.com" in policy
    assert "script-src 'self'" in policy and page.headers["x-frame-options"] == "SAMEORIGIN"
    # a labelling condition plays clips from the object store there, as the labelling page does
    media = next(d for d in httpx.get(web + "/label/0123").headers["content-security-policy"].split("; ")
                 if d.startswith("media-src"))
    assert media in policy.split("; ") and media != "media-src 'self'"
    other = httpx.get(web + "/studies/x")
    assert "frame-ancestors 'none'" in other.headers["content-security-policy"]
    assert other.headers["x-frame-options"] == "DENY"


def test_a_refused_request_carries_them_too(web: str) -> None:
    too_large = httpx.post(web + "/api/studies", content=b"x" * (2 << 20))
    assert too_large.status_code == 413 and too_large.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_api_docs_allow_only_their_own_inline_scripts(web: str, path: str) -> None:
    r = httpx.get(web + path)
    policy = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline}
    assert set(policy["script-src"].split()) == {"'self'", *hashes}  # no 'unsafe-inline'
