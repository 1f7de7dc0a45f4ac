"""Browser fixtures: Debian's Chromium driven by playwright through the gateway of a real stack serving the web app.

- `web`: the four services on the suite's NATS/PostgreSQL/S3 (a database and subjects of their own), the gateway
  serving the web app (by default a development build, so that React's warnings fail the tests: `built_frontend`),
  and a designer with a password set
  by the CLI, as an operator would (`playcorder accounts password NAME --password-stdin`).
- `browser`: Chromium from apt (`make chromium`), headless, a fresh profile; never a downloaded browser.
- `new_page(context)`: a page whose console errors and warnings and uncaught page errors FAIL the running test
  (see `pytest_runtest_call`); a test that expects a logged HTTP error says so with `console.allow(regex)`.
- `shot(page, name)`: a screenshot of what the page shows, kept in artifacts/screenshots/NAME.png.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Playwright,
    sync_playwright,
)

from playcorder.devstack.services import ServiceProcess, start_all, stop_all
from playcorder.sdk import Client
from tests.conftest import tenant

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/lib/chromium/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 720}
DESIGNER, PASSWORD = "browser-designer", "correct horse battery staple"


# --- the web app ------------------------------------------------------------------------------------------------

def _newest(root: Path, skip: tuple[str, ...] = ()) -> float:
    """The newest modification time of the files under root (or of root itself), leaving out the named folders."""
    if root.is_file():
        return root.stat().st_mtime
    newest = 0.0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        newest = max([newest, *(os.stat(os.path.join(folder, f)).st_mtime for f in files)])
    return newest


def built_frontend() -> Path:
    """The web app as the browser tests serve it, built with npm when missing or older than any source (`npm ci`
    first when node_modules is missing or older than the lockfile): by default a development build of the same
    sources (frontend/build/dev-app), so that React's own checks (keys, effects run twice under StrictMode, ...)
    warn on the console and fail the test; PLAYCORDER_BROWSER_APP=dist serves the production build (`make frontend`)."""
    lock = FRONTEND / "package-lock.json"
    production = os.environ.get("PLAYCORDER_BROWSER_APP", "dev") == "dist"
    app = FRONTEND / "dist" if production else FRONTEND / "build" / "dev-app"
    if not (FRONTEND / "package.json").exists():
        pytest.fail(f"Expected the web app's sources in {FRONTEND}/package.json, got none")
    if (app / "index.html").exists() and _newest(app) >= _newest(FRONTEND, skip=("dist", "build", "node_modules")):
        return app
    npm = shutil.which("npm")
    if npm is None:
        # make install needs npm too (make frontend): the browser tests never pass silently without the web app
        pytest.fail(f"Expected npm (Node.js 20+) to build the web app into {app} for the browser tests, got none")
    installed = FRONTEND / "node_modules" / ".package-lock.json"
    steps = [[npm, "ci", "--no-audit", "--no-fund"]] if not installed.exists() or _newest(lock) > _newest(
        installed) else []
    build = [npm, "run", "build"] if production else [
        npm, "exec", "--", "vite", "build", "--mode", "development", "--outDir", str(app), "--emptyOutDir"]
    for step in [*steps, build]:
        env = os.environ if production or step is not build else {**os.environ, "NODE_ENV": "development"}
        done = subprocess.run(step, cwd=FRONTEND, capture_output=True, text=True, timeout=600, env=env)
        if done.returncode != 0:
            pytest.fail(f"Expected `{' '.join(step[1:])}` in {FRONTEND} to succeed, got exit {done.returncode}:\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return app


@dataclass
class Web:
    """The stack the browser talks to: its URL, the designer's sign-in and an API client for checks."""

    url: str
    database_url: str
    designer: str
    password: str
    api: Client
    procs: list[ServiceProcess]


def set_password(database_url: str, name: str, password: str) -> None:
    """Give the designer a password with the CLI, as an operator does."""
    done = subprocess.run(
        [sys.executable, "-m", "playcorder.cli", "accounts", "password", name, "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=60,
        env={**os.environ, "DATABASE_URL": database_url})
    assert done.returncode == 0, f"`playcorder accounts password` failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def web(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:  # type: ignore[no-untyped-def]
    dist = built_frontend()
    logs = tmp_path_factory.mktemp("browser-logs")
    own = tenant(stack, "browser")
    env = own.env | {"NATS_SUBJECT_PREFIX": "pcweb", "NATS_STREAM_PREFIX": "PCWEB", "FRONTEND_DIR": str(dist),
                     "LOG_LEVEL": "INFO", "WORKER_CAPACITY": "4", "HEARTBEAT_INTERVAL": "0.5"}
    procs = [ServiceProcess(kind, env, logs, name=f"{kind}-web")
             for kind in ("gateway", "env-worker", "recorder", "exporter")]
    try:
        start_all(procs)
        # tenant() made the account (with a token, for the API checks); the browser signs in with a password.
        set_password(env["DATABASE_URL"], DESIGNER, PASSWORD)
        yield Web(url=procs[0].url, database_url=env["DATABASE_URL"], designer=DESIGNER,
                  password=PASSWORD, api=Client(procs[0].url, own.designer_token), procs=procs)
    finally:
        stop_all(procs)


# --- the browser ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def playwright_driver(web: Web) -> Iterator[Playwright]:
    """Per module, and after the stack: while the sync API is active its event loop counts as running in this
    thread, so no asyncio.run() (migrations, the suite's other tests) may come while it is."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Expected Debian's chromium at {CHROMIUM} for the browser tests, got none: run `make chromium` "
                    "(apt-get install chromium), or set CHROMIUM to its binary")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    # launch() gives every context a fresh, temporary profile (user data dir) of its own.
    b = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


def new_context(browser: Browser, web: Web, **options: object) -> BrowserContext:
    context = browser.new_context(**{"base_url": web.url, "viewport": VIEWPORT, "accept_downloads": True,  # type: ignore[arg-type]
                                     **options})
    context.set_default_timeout(15_000)
    return context


# --- console watching -------------------------------------------------------------------------------------------

@dataclass
class Console:
    """Console errors and warnings and uncaught errors of every watched page, since the running test began."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    pages: dict[str, Page] = field(default_factory=dict)

    def watch(self, page: Page, label: str) -> Page:
        self.pages[label] = page
        page.on("console", lambda msg: self._console(label, msg))
        page.on("pageerror", lambda error: self.problems.append(f"{label}: uncaught {error}"))
        page.on("crash", lambda _: self.problems.append(f"{label}: the page crashed"))
        return page

    def _console(self, label: str, msg: ConsoleMessage) -> None:
        if msg.type not in ("error", "warning"):
            return
        where = msg.location.get("url", "") if msg.location else ""
        text = f"{label}: console {msg.type}: {msg.text}" + (f" ({where})" if where else "")
        if not any(pattern.search(text) for pattern in self.allowed):
            self.problems.append(text)

    def allow(self, pattern: str) -> None:
        """Expect console lines matching `pattern` for the rest of this test (an HTTP error the test provokes,
        which Chromium logs as 'Failed to load resource: ... status of 422')."""
        self.allowed.append(re.compile(pattern))

    def take(self) -> list[str]:
        problems, self.problems, self.allowed = self.problems, [], []
        return problems


CONSOLE = Console()


@pytest.fixture
def console() -> Console:
    return CONSOLE


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A console error or warning of any watched page during a test fails that test, naming each one; a failed
    test leaves a screenshot of every open page (artifacts/screenshots/failed-TEST-PAGE.png)."""
    CONSOLE.take()
    try:
        outcome = yield
    except BaseException:
        _shoot_open_pages(item.name)
        raise
    problems = CONSOLE.take()
    if problems:
        _shoot_open_pages(item.name)
        raise AssertionError("Expected no console errors or warnings (nor requests beyond the gateway), got:\n"
                             + "\n".join(problems))
    return outcome


def _shoot_open_pages(test: str) -> None:
    for label, page in list(CONSOLE.pages.items()):
        if page.is_closed():
            del CONSOLE.pages[label]
            continue
        try:
            shot(page, f"failed-{test}-{label}", full_page=True)
        except Error:
            pass


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """In a module marked `incremental` (one flow in steps), remember the first step that failed."""
    report: pytest.TestReport = yield
    if report.failed and item.get_closest_marker("incremental") is not None:
        item.module.__dict__.setdefault("_failed_step", item.name)  # type: ignore[attr-defined]
    return report


def pytest_runtest_setup(item: pytest.Item) -> None:
    failed = getattr(getattr(item, "module", None), "_failed_step", None)
    if failed is not None and item.get_closest_marker("incremental") is not None:
        pytest.skip(f"needs what {failed} (failed) makes")


@pytest.fixture(scope="session")
def new_page() -> Callable[[BrowserContext, str], Page]:
    def make(context: BrowserContext, label: str) -> Page:
        return CONSOLE.watch(context.new_page(), label)
    return make


# --- screenshots ------------------------------------------------------------------------------------------------

def shot(page: Page, name: str, at: Locator | None = None, full_page: bool = False) -> Path:
    """Keep what the page shows now as artifacts/screenshots/NAME.png (fonts loaded, animations finished), the
    window scrolled to put `at` in its middle when given (a full-page shot would draw the fixed header mid-page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if at is not None:
        at.evaluate("element => element.scrollIntoView({block: 'center', inline: 'nearest'})")
    try:
        page.evaluate("document.fonts.ready.then(() => true)")
    except Error:
        pass
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def assert_within_window(page: Page, *what: Locator) -> None:
    """Each locator is wholly inside the window, and the page needs no scrolling: all of it is in sight."""
    width, height = page.evaluate("[innerWidth, innerHeight]")
    scroll = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert scroll[0] <= width and scroll[1] <= height, f"Expected no scrolling in {width}x{height}, got {scroll}"
    for locator in what:
        box = locator.bounding_box()
        assert box is not None, f"{locator} is not shown"
        assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 0.5 and \
            box["y"] + box["height"] <= height + 0.5, f"Expected {locator} within {width}x{height}, got {box}"
