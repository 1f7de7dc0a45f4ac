"""Prometheus metrics on the real stack: after a bot plays an episode and it is stored, each service's /metrics shows
what a user would expect of it; the gateway's metrics need METRICS_TOKEN; a made-up path adds no series; and the
Grafana dashboard shows only metrics the services expose, and every one of ours."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from playcorder import metrics
from playcorder.devstack.services import ServiceProcess
from playcorder.sdk import Client
from playcorder.sdk.bot import play
from tests.conftest import Services
from tests.factories import pong_study
from tests.stored import stored_episode

TOKEN = "metrics-" + uuid.uuid4().hex
DASHBOARD = Path(__file__).parents[1] / "deploy" / "grafana" / "playcorder.json"
DOCS = Path(__file__).parents[1] / "docs" / "metrics.md"
STEPS = 40


@pytest.fixture(scope="module")
def gateway(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A gateway of the suite's stack with METRICS_TOKEN set (the suite's own has none: its /metrics is closed)."""
    g = ServiceProcess("gateway", services.env | {"METRICS_TOKEN": TOKEN}, tmp_path_factory.mktemp("metrics"),
                       name="metered-gateway")
    g.start()
    try:
        g.wait_ready()
        yield g
    finally:
        g.stop()


def scrape(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, f"Expected 200 from {url}/metrics, got {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def value(text: str, name: str, **labels: str) -> float:
    """One series' value; 0 when it is not there yet (a counter not yet incremented)."""
    found = metrics.sample(text, name, **labels)
    return 0.0 if found is None else found


def total(text: str, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for ls, v in metrics.samples(text, name) if all(ls.get(k) == w for k, w in labels.items()))


def eventually(read: Callable[[], float], expected: float, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := read()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"Expected {what} to reach {expected:g} within {timeout:g} s, got {got:g}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def played(services: Services, gateway: ServiceProcess, designer_token: str) -> dict[str, Any]:
    """Metrics of every service before and after a realtime Pong episode played through the metered gateway."""
    client = Client(gateway.url, designer_token)
    study = client.create_study(pong_study(max_episode_steps=STEPS, mode="realtime"))
    token = client.create_participant(study["id"])["token"]
    urls = {"gateway": gateway.url, "worker": services.worker.url, "recorder": services.recorder.url,
            "exporter": services.exporter.url}
    keys = {"gateway": TOKEN}
    before = {name: scrape(url, keys.get(name)) for name, url in urls.items()}
    bot = asyncio.run(play(gateway.url, token, "pong", episodes=1, seed=3))
    episode = stored_episode(client, bot.episode_details[0]["episode_id"])
    client.get_study(study["id"])  # a 2xx of a templated route, counted after `before`
    export = client.wait_export(client.create_export(study["id"], [episode["id"]])["id"], timeout=120)
    # The worker announces its load each HEARTBEAT_INTERVAL; the recorder reads its backlog each BACKLOG_INTERVAL.
    eventually(lambda: value(scrape(services.worker.url), "playcorder_worker_sessions_active"), 0,
               "the worker's active sessions")
    eventually(lambda: sum(value(scrape(services.recorder.url), name) for name in (
        "playcorder_recorder_backlog_messages", "playcorder_recorder_ack_pending_messages")), 0,
        "the record backlog (pending and unacknowledged)")
    after = {name: scrape(url, keys.get(name)) for name, url in urls.items()}
    return {"before": before, "after": after, "bot": bot, "episode": episode, "export": export, "study": study,
            "urls": urls}


def delta(played: dict[str, Any], service: str, name: str, **labels: str) -> float:
    return total(played["after"][service], name, **labels) - total(played["before"][service], name, **labels)


def test_the_worker_counts_the_steps_chunks_and_step_times_of_the_episode(played: dict[str, Any]) -> None:
    steps = played["episode"]["num_steps"]
    assert steps >= STEPS
    assert delta(played, "worker", "playcorder_worker_steps_total") >= STEPS
    assert delta(played, "worker", "playcorder_worker_chunks_published_total") >= 1
    # once a step: every step of this realtime episode is the play loop's (a step timed twice would double it)
    assert delta(played, "worker", "playcorder_worker_step_seconds_count") == delta(
        played, "worker", "playcorder_worker_steps_total")
    assert delta(played, "worker", "playcorder_worker_step_seconds_sum") > 0
    # realtime: every step had a scheduled tick, and its lateness was observed
    assert delta(played, "worker", "playcorder_worker_tick_lateness_seconds_count") >= STEPS
    after = played["after"]["worker"]
    assert value(after, "playcorder_worker_sessions_active") == 0
    assert value(after, "playcorder_worker_capacity") == 4  # WORKER_CAPACITY of the suite's stack
    assert value(after, "playcorder_worker_accepting") == 1
    ids = [ls["worker_id"] for ls, _ in metrics.samples(after, "playcorder_worker_info")]
    assert len(ids) == 1 and ids[0], f"Expected one worker id, got {ids}"


def test_the_recorder_counts_what_it_stored_and_its_backlog_drains(played: dict[str, Any]) -> None:
    episode = played["episode"]
    assert delta(played, "recorder", "playcorder_recorder_chunks_stored_total") >= 1
    assert delta(played, "recorder", "playcorder_recorder_steps_stored_total") >= episode["num_steps"]
    assert delta(played, "recorder", "playcorder_recorder_episodes_finalized_total", state="completed") >= 1
    assert delta(played, "recorder", "playcorder_recorder_batch_seconds_count") >= 1
    after = played["after"]["recorder"]
    assert value(after, "playcorder_recorder_backlog_messages") == 0
    assert value(after, "playcorder_recorder_ack_pending_messages") == 0
    assert value(after, "playcorder_recorder_backlog_polled_timestamp_seconds") > time.time() - 60


def test_the_exporter_counts_the_job_its_duration_and_steps(played: dict[str, Any]) -> None:
    assert played["export"]["state"] == "done"
    assert delta(played, "exporter", "playcorder_exporter_jobs_total", outcome="done") == 1
    assert delta(played, "exporter", "playcorder_exporter_job_seconds_count", outcome="done") == 1
    assert delta(played, "exporter", "playcorder_exporter_job_seconds_sum", outcome="done") > 0
    assert delta(played, "exporter", "playcorder_exporter_steps_total") == played["export"]["steps_done"] > 0
    assert value(played["after"]["exporter"], "playcorder_exporter_jobs_running") == 0


def test_the_gateway_counts_the_play_socket_and_the_requests_by_route_template(played: dict[str, Any]) -> None:
    assert delta(played, "gateway", "playcorder_gateway_relays_total", outcome="closed") == 1
    assert delta(played, "gateway", "playcorder_ws_connections_total", route="/ws/play", outcome="normal") == 1
    after = played["after"]["gateway"]
    assert value(after, "playcorder_gateway_sessions_relayed") == 0
    assert value(after, "playcorder_ws_connections_active", route="/ws/play") == 0
    assert metrics.sample(after, "playcorder_gateway_frames_dropped_total", socket="play") is not None
    assert delta(played, "gateway", "playcorder_gateway_frames_sent_total", socket="play") >= played["bot"].frames
    study = delta(played, "gateway", "playcorder_http_requests_total", method="GET", route="/api/studies/{study_id}",
                  status="200")
    assert study >= 1
    assert played["study"]["id"] not in after  # ids never become labels
    assert delta(played, "gateway", "playcorder_http_request_duration_seconds_count", method="GET",
                 route="/api/studies/{study_id}") >= 1


def test_unknown_paths_and_methods_count_under_bounded_labels(gateway: ServiceProcess) -> None:
    made_up = [f"/api/no-such-{uuid.uuid4().hex}" for _ in range(5)]
    before = scrape(gateway.url, TOKEN)
    for path in made_up:
        assert httpx.get(gateway.url + path).status_code == 404
    # a method the HTTP parser knows and no route of ours has
    assert httpx.request("PROPFIND", gateway.url + "/api/coffee").status_code == 404
    after = scrape(gateway.url, TOKEN)
    # unmatched; or, on a gateway serving the web app (FRONTEND_DIR), that app's mount, which answers 404 for /api/
    route = "/{path}" if '/{path}"' in after else "unmatched"
    got = total(after, "playcorder_http_requests_total", route=route, status="404") - \
        total(before, "playcorder_http_requests_total", route=route, status="404")
    assert got == 6
    assert value(after, "playcorder_http_requests_total", method="other", route=route, status="404") >= 1
    assert not any(p.removeprefix("/api/") in after for p in made_up)
    assert "PROPFIND" not in after


def test_the_gateway_metrics_need_the_token_and_the_suites_gateway_serves_none(
        services: Services, gateway: ServiceProcess) -> None:
    anonymous = httpx.get(f"{gateway.url}/metrics")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["detail"] == ("Expected Authorization: Bearer <METRICS_TOKEN>, got no Authorization "
                                          "header")
    wrong = httpx.get(f"{gateway.url}/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401 and "got a different token" in wrong.json()["detail"]
    assert "playcorder_" not in anonymous.text + wrong.text
    closed = httpx.get(f"{services.url}/metrics")  # no METRICS_TOKEN: an internet-facing gateway shows nothing
    assert closed.status_code == 403 and "METRICS_TOKEN" in closed.json()["detail"]
    for internal in (services.worker, services.recorder, services.exporter):  # inside the cluster: open
        assert "playcorder_http_requests_total" in scrape(internal.url)


def test_a_token_guards_an_internal_service_too_and_scans_add_no_series() -> None:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    files = FastAPI()

    @files.get("/{name}")
    async def file(name: str) -> dict[str, str]:
        return {"name": name}

    app.mount("/files", files)
    metrics.install(app, "s3cret")
    with TestClient(app) as http:
        assert http.get("/metrics").status_code == 401
        for i in range(300):
            http.get(f"/items/{i}")
            http.get(f"/scan/{uuid.uuid4().hex}")
            http.get(f"/files/{uuid.uuid4().hex}")
        text = http.get("/metrics", headers={"Authorization": "Bearer s3cret"}).text
    routes = {ls["route"] for ls, _ in metrics.samples(text, "playcorder_http_requests_total")}
    assert routes == {"/items/{item_id}", "unmatched", "/files/{name}", "/metrics"}  # the mount in front
    assert value(text, "playcorder_http_requests_total", method="GET", route="/files/{name}", status="200") == 300


# ---------------------------------------------------------------------------------------------- the dashboard
# PromQL's keywords (function names are known by the parenthesis after them)
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
             "inf", "nan", "Inf", "NaN"}


PROMETHEUS_OWN = {"up"}  # series Prometheus itself writes for every target


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers left once strings, label matchers, ranges,
    grouping clauses, Grafana variables, numbers and function names are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\$\{[^}]*\}|\$\w+", "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"(?<![\w.:])([A-Za-z_:][\w:]*)\b(?!\s*\()", expr))
    return {n for n in names if n not in _KEYWORDS and not re.fullmatch(r"\d+\w*", n)}


def exposed(text: str) -> set[str]:
    """Every sample name a scrape exposes or declares: a labelled metric with no series yet still has its HELP."""
    names: set[str] = set()
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "gauge": ("",), "info": ("_info",), "summary": ("", "_count", "_sum", "_created")}
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples}
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_the_dashboard_shows_only_exposed_metrics_and_all_of_ours(played: dict[str, Any]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    exprs = [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]
    assert len(exprs) >= 15
    available = set().union(*(exposed(text) for text in played["after"].values())) | PROMETHEUS_OWN
    for title, expr in exprs:
        named = promql_metrics(expr)
        assert named, f"panel {title!r}: no metric found in {expr!r}"
        unknown = named - available
        assert not unknown, f"panel {title!r} reads {sorted(unknown)}, which no service exposes: {expr!r}"
    shown = set().union(*(promql_metrics(e) for _, e in exprs))
    families = {f.name for text in played["after"].values() for f in text_string_to_metric_families(text)
                if f.name.startswith("playcorder_")}
    missing = {f for f in families if not any(n == f or n.startswith(f + "_") for n in shown)}
    assert not missing, f"Expected the dashboard to show every Playcorder metric, missing {sorted(missing)}"
    documented = DOCS.read_text()
    undocumented = {f for f in families if f not in documented}
    assert not undocumented, f"Expected docs/metrics.md to describe {sorted(undocumented)}"


def test_the_promql_reader_finds_metric_names() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, job) (rate(playcorder_worker_step_seconds_bucket{job=~"$job"}'
            '[$__rate_interval]))) / ignoring(x) max(up{job="a b"}) offset 5m')
    assert promql_metrics(expr) == {"playcorder_worker_step_seconds_bucket", "up"}
