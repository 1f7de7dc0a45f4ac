"""The Helm chart (deploy/helm/playcorder), checked offline: rendered with helm-python-sdk (no helm binary, no
cluster) for several values sets, every manifest validated with kubernetes-validate --strict for each Kubernetes
version the chart claims, `helm lint --strict`, checkov with no failed check, the schema and the templates' `fail`s
refusing bad values with a message naming them, and what the manifests do (grace periods, selectors, secrets,
routes, probes, scalers).

What is NOT checked offline, and why:
- The nats chart (a dependency) is not vendored and cannot be downloaded here: renders run without it, so its
  manifests are not validated. The values passed to it are checked against the keys and types of its values.yaml
  (NATS_CHART_DEFAULTS, transcribed from nats-io/k8s at tags nats-1.3.16 and nats-2.14.2), and `helm lint` runs on
  a copy of the chart with a stub `charts/nats` (Chart.yaml only) so the dependency declaration itself is linted.
  test_with_the_real_nats_chart (opt-in, NATS_CHART_DIR=an unpacked nats chart) renders with the real chart and
  checks its manifests and the names, labels and ports this chart assumes; it passed with nats-1.3.16 and
  nats-2.14.2 read from nats-io/k8s (used in a temporary directory, never committed).
- ScaledObject (keda.sh) and ServiceMonitor (monitoring.coreos.com) are CRDs: kubernetes-validate has no schema for
  them. test_crd_objects checks their required fields and that they point at this release's objects.
- Nothing is applied to a cluster: admission, the CNI enforcing NetworkPolicies, KEDA and prometheus-adapter
  computing metrics, and `helm test` itself run only on a real cluster.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "playcorder"
RELEASE, NAMESPACE = "pc", "play"
FULL = f"{RELEASE}-playcorder"
# The Kubernetes versions the chart claims (Chart.yaml kubeVersion: the oldest, a middle one and the newest
# kubernetes-validate ships schemas for within the claimed range).
KUBE_VERSIONS = ("1.28.0", "1.32.0", "1.37.0")
CRD_KINDS = {"ScaledObject", "ServiceMonitor"}
SERVICES = ("gateway", "env-worker", "recorder", "exporter")

REQUIRED = {"database": {"existingSecret": "pg"}, "s3": {"endpoint": "s3.eu-west-1.amazonaws.com:443",
                                                         "existingSecret": "s3"}}
# Secrets given as values in "external": each must reach the pods only through the chart's Secret.
SECRETS = {"db": "postgresql://pc:db-s3cr3t@pg.example.com:5432/pc", "ak": "AKIAEXAMPLE", "sk": "s3-s3cr3t",
           "metrics": "metrics-s3cr3t", "test": "designer-s3cr3t", "nats": "nats://u:nats-s3cr3t@nats.example.com:4222",
           "ids": "id-hash-s3cr3t-0123456789"}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": REQUIRED,
    "minio": {"database": {"existingSecret": "pg"}, "minio": {"enabled": True}, "tests": {"token": "t"}},
    "keda-off-hpa": REQUIRED | {"keda": {"enabled": False}, "envWorker": {"autoscaling": {"mode": "hpa"}}},
    "keda-off-fixed": REQUIRED | {"keda": {"enabled": False}, "envWorker": {"autoscaling": {"mode": "none"}},
                                  "gateway": {"autoscaling": {"enabled": False}}},
    "external-everything": {
        "nats": {"enabled": False, "external": {"url": SECRETS["nats"], "monitoringEndpoint": "nats.example.com:8222",
                                                "cidr": "10.20.0.0/16"}},
        "database": {"url": SECRETS["db"], "cidr": "10.30.0.0/16"},
        "s3": {"endpoint": "s3.example.com:443", "accessKey": SECRETS["ak"], "secretKey": SECRETS["sk"],
               "cidr": "10.40.0.0/16", "publicEndpoint": "files.example.com:443"},
        "metrics": {"token": SECRETS["metrics"], "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "tests": {"token": SECRETS["test"]},
        "gateway": {"ingress": {"tlsSecretName": "playcorder-tls"}, "idHashSecret": {"value": SECRETS["ids"]},
                    "forwardedAllowIps": "10.0.0.0/8,192.168.0.0/16", "enrollRate": 12.5, "enrollBurst": 20},
        "envWorker": {"autoscaling": {"mode": "hpa"}, "drainTimeout": 900},
    },
    "nats-external-secret": REQUIRED | {
        "nats": {"enabled": False, "external": {"existingSecret": "nats", "monitoringEndpoint": "nats.ops:8222"}},
        "envWorker": {"podDeletionCost": {"enabled": False}}, "networkPolicy": {"ingressNamespace": ""},
        "gateway": {"idHashSecret": {"existingSecret": "ids", "key": "ID_HASH_SECRET"}, "forwardedAllowIps": "*"}},
}


def merged(over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(REQUIRED)
    _merge(out, over)
    return out


def _merge(into: dict[str, Any], over: dict[str, Any]) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


@pytest.fixture(scope="module")
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


def render(chart: helm_python.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [d for path, text in sorted(out.items()) if path.endswith(".yaml")
            for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="module")
def rendered(chart: helm_python.Chart) -> dict[str, list[dict[str, Any]]]:
    return {name: render(chart, values) for name, values in VALUE_SETS.items()}


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, got {[d['metadata']['name'] for d in find(docs, kind)]}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(name, pod spec, pod labels) of every workload: Deployments, StatefulSets, Jobs, Pods."""
    out = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            t = d["spec"]["template"]
            out.append((f"{d['kind']}/{d['metadata']['name']}", t["spec"], t["metadata"]["labels"]))
        elif d["kind"] == "Pod":
            out.append((f"Pod/{d['metadata']['name']}", d["spec"], d["metadata"]["labels"]))
    return out


def container(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return one(docs, "Deployment", f"{FULL}-{component}")["spec"]["template"]["spec"]["containers"][0]


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


# -- every manifest valid, for every claimed Kubernetes version ---------------------------------------------------

def test_chart_claims_the_versions_validated() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    low, high = re.fullmatch(r">=(\d+\.\d+)\.0-0 <(\d+\.\d+)\.0-0", meta["kubeVersion"]).groups()  # type: ignore[union-attr]
    assert low == KUBE_VERSIONS[0].rsplit(".", 1)[0]
    assert tuple(map(int, KUBE_VERSIONS[-1].split(".")[:2])) < tuple(map(int, high.split(".")))
    nats = [d for d in meta["dependencies"] if d["name"] == "nats"]
    assert nats == [{"name": "nats", "version": "1.3.16", "repository": "https://nats-io.github.io/k8s/helm/charts/",
                     "condition": "nats.enabled"}]


_VALID: set[tuple[str, str]] = set()


@pytest.mark.parametrize("values_set", VALUE_SETS)
def test_every_manifest_is_valid_for_each_claimed_version(rendered: dict[str, list[dict[str, Any]]],
                                                          values_set: str) -> None:
    docs = rendered[values_set]
    assert len(docs) > 20
    unchecked = set()
    for version in KUBE_VERSIONS:
        for d in docs:
            if d["kind"] in CRD_KINDS:
                unchecked.add(d["kind"])
                continue
            key = (version, json.dumps(d, sort_keys=True))
            if key in _VALID:  # the same manifest in an earlier values set
                continue
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{d['kind']}/{d['metadata']['name']} invalid for Kubernetes {version}: {err.message} at "
                            f"{'/'.join(map(str, err.path))}")
            _VALID.add(key)
    assert unchecked <= CRD_KINDS  # checked by test_crd_objects


@pytest.mark.parametrize("values_set", VALUE_SETS)
def test_crd_objects(rendered: dict[str, list[dict[str, Any]]], values_set: str) -> None:
    """ScaledObjects and ServiceMonitors have no built-in schema: their required fields, and that they point at this
    release's Deployments and Services (by name, labels and port)."""
    docs = rendered[values_set]
    deployments = {d["metadata"]["name"] for d in find(docs, "Deployment")}
    for so in find(docs, "ScaledObject"):
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["triggers"]
        for t in spec["triggers"]:
            md = t["metadata"]
            assert all(isinstance(v, str) and v for v in md.values()), md  # KEDA metadata: strings
            if t["type"] == "nats-jetstream":
                assert {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"} <= set(md)
                assert re.fullmatch(r"[^/:]+:\d+", md["natsServerMonitoringEndpoint"])
                assert int(md["lagThreshold"]) > 0
            else:
                assert t["type"] == "prometheus" and {"serverAddress", "query", "threshold"} <= set(md)
                assert md["serverAddress"].startswith("http") and float(md["threshold"]) > 0
    services = find(docs, "Service")
    for sm in find(docs, "ServiceMonitor"):
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        sel = sm["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if sel.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, sm["metadata"]["name"]
        ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            assert ep["port"] in ports and ep["path"] == "/metrics"
            cred = ep["authorization"]["credentials"]
            assert cred["name"] and cred["key"]


def test_service_monitors_scrape_the_gateway_only_with_a_token(chart: helm_python.Chart) -> None:
    monitored = {sm["metadata"]["name"]: sm for sm in
                 find(render(chart, merged({"metrics": {"serviceMonitor": {"enabled": True}}})), "ServiceMonitor")}
    assert set(monitored) == {f"{FULL}-{c}" for c in ("env-worker", "recorder", "exporter")}
    assert all("authorization" not in ep for sm in monitored.values() for ep in sm["spec"]["endpoints"])
    with_token = render(chart, merged({"metrics": {"existingSecret": "metrics",
                                                   "serviceMonitor": {"enabled": True}}}))
    assert {sm["spec"]["endpoints"][0]["authorization"]["credentials"]["name"]
            for sm in find(with_token, "ServiceMonitor")} == {"metrics"}
    assert len(find(with_token, "ServiceMonitor")) == 4
    env = env_of(container(with_token, "gateway"))
    assert env["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "metrics", "key": "METRICS_TOKEN"}


# -- helm lint --strict, checkov ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lintable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chart with a stub nats subchart (Chart.yaml only, never committed) in charts/, so lint sees the
    dependency satisfied; the real one is fetched by `helm dependency build` at install."""
    dest = tmp_path_factory.mktemp("lint") / "playcorder"
    shutil.copytree(CHART, dest, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    stub = dest / "charts" / "nats"
    stub.mkdir(parents=True)
    (stub / "Chart.yaml").write_text("apiVersion: v2\nname: nats\nversion: 1.3.16\n")
    return dest


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_set", ["defaults", "minio", "external-everything"])
def test_helm_lint_strict(lintable: Path, values_set: str, version: str) -> None:
    report = helm_python.lint(lintable, VALUE_SETS[values_set], strict=True, kube_version=f"v{version}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors (strict: both fail)
    assert not problems and not report["errors"], problems or report["errors"]


def _checkov() -> str:
    exe = os.environ.get("CHECKOV") or str(ROOT / ".venv-tools" / "bin" / "checkov")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"Expected checkov at {exe} (run `make install`, or set CHECKOV=/path/to/checkov), got none")
    return exe


def test_checkov_finds_nothing(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    for name, docs in rendered.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(docs))
    out = subprocess.run([_checkov(), "--framework", "kubernetes", "-d", str(tmp_path), "--skip-download",
                          "--compact", "-o", "json"], capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    data = data[0] if isinstance(data, list) else data
    assert data.get("summary", data)["resource_count"] > 0
    failed = [(f["check_id"], f["resource"], f["check_name"]) for f in data["results"]["failed_checks"]]
    assert not failed and out.returncode == 0, failed
    skipped = data["results"]["skipped_checks"]
    reasons = [s["check_result"]["suppress_comment"] for s in skipped]
    assert skipped and all(len(r) > 20 for r in reasons), f"every suppression gives its reason: {reasons}"
    assert {s["check_id"] for s in skipped} <= {"CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_38", "CKV_K8S_8",
                                                "CKV_K8S_9"}


# -- the schema and the templates' fail ----------------------------------------------------------------------------

@pytest.mark.parametrize(("over", "said"), [
    ({"envWorker": {"replicas": -1}}, "at '/envWorker/replicas': minimum: got -1, want 0"),
    ({"gateway": {"port": "8000"}}, "at '/gateway/port': got string, want integer"),
    ({"envWorker": {"autoscaling": {"mode": "cpu"}}},
     "at '/envWorker/autoscaling/mode': value must be one of 'keda', 'hpa', 'none'"),
    ({"envWorker": {"drainTimeout": 7200}}, "at '/envWorker/drainTimeout': maximum: got 7,200, want 3,600"),
    ({"gateway": {"replica": 3}}, "at '/gateway': additional properties 'replica' not allowed"),
    ({"replicas": 3}, "additional properties 'replicas' not allowed"),
    ({"s3": {"endpoint": "https://s3.example.com"}}, "at '/s3/endpoint'"),
    ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy': value must be one of"),
    ({"envWorker": {"families": "atari,doom"}}, "at '/envWorker/families'"),
    ({"recorder": {"autoscaling": {"minReplicas": 0}}}, "at '/recorder/autoscaling/minReplicas': minimum: got 0"),
    ({"gateway": {"idHashSecret": {"value": "too-short"}}}, "at '/gateway/idHashSecret/value'"),
    ({"gateway": {"idHashSecret": {"key": "no spaces"}}}, "at '/gateway/idHashSecret/key'"),
    ({"gateway": {"enrollRate": 0}}, "at '/gateway/enrollRate'"),
    ({"gateway": {"enrollBurst": 0}}, "at '/gateway/enrollBurst': minimum: got 0"),
])
def test_schema_refuses_bad_values(chart: helm_python.Chart, over: dict[str, Any], said: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as err:
        chart.render(merged(over), name=RELEASE, namespace=NAMESPACE)
    assert said in str(err.value), str(err.value)


def test_schema_accepts_the_defaults_and_every_values_set(chart: helm_python.Chart) -> None:
    chart.validate_schema(chart.values)
    for values in VALUE_SETS.values():
        chart.validate_schema(chart.merge_values(values))


@pytest.mark.parametrize(("values", "said"), [
    ({"s3": REQUIRED["s3"]}, "Expected database.url or database.existingSecret"),
    ({"database": {"existingSecret": "pg"}},
     "Expected s3.endpoint (host:port of the S3 server) when minio.enabled is false, got none"),
    ({"database": {"existingSecret": "pg"}, "s3": {"endpoint": "s3:443", "accessKey": "a"}},
     "Expected s3.existingSecret, or both s3.accessKey and s3.secretKey"),
    (merged({"nats": {"enabled": False}, "keda": {"enabled": False}, "envWorker": {"autoscaling": {"mode": "none"}}}),
     "Expected nats.external.url or nats.external.existingSecret when nats.enabled is false"),
    (merged({"keda": {"enabled": False}}), "Expected keda.enabled=true with envWorker.autoscaling.mode=keda"),
    (merged({"nats": {"enabled": False, "external": {"url": "nats://n:4222"}}}),
     "Expected nats.external.monitoringEndpoint"),
    (merged({"envWorker": {"drainTimeout": 300, "terminationGracePeriodSeconds": 300}}),
     "Expected envWorker.terminationGracePeriodSeconds above envWorker.drainTimeout (300 s)"),
    (merged({"gateway": {"preStopSleep": 60, "terminationGracePeriodSeconds": 30}}),
     "Expected gateway.terminationGracePeriodSeconds above gateway.preStopSleep + gateway.drainTimeout (70 s), got 30"),
    (merged({"gateway": {"drainSpread": 5, "drainTimeout": 4}}),
     "Expected gateway.drainTimeout above gateway.drainSpread (5 s), got 4"),
    (merged({"envWorker": {"autoscaling": {"minReplicas": 10, "maxReplicas": 5}}}),
     "Expected envWorker.autoscaling.minReplicas (10) at most envWorker.autoscaling.maxReplicas, got maxReplicas 5"),
    (merged({"gateway": {"ingress": {"host": ""}}}), "Expected gateway.ingress.host"),
])
def test_bad_combinations_fail_with_their_message(chart: helm_python.Chart, values: dict[str, Any],
                                                  said: str) -> None:
    with pytest.raises(helm_python.HelmRenderError) as err:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert said in str(err.value), str(err.value)


# -- the values passed to the nats chart ---------------------------------------------------------------------------

# Defaults of the nats chart's values.yaml (github.com/nats-io/k8s helm/charts/nats/values.yaml, identical at tags
# nats-1.3.16 and nats-2.14.2) for every key this chart sets under `nats:`: the key must exist and keep its type.
NATS_CHART_DEFAULTS: dict[str, Any] = {
    "config.cluster.enabled": False, "config.cluster.replicas": 3, "config.jetstream.enabled": False,
    "config.jetstream.fileStore.enabled": True, "config.jetstream.fileStore.dir": "/data",
    "config.jetstream.fileStore.pvc.enabled": True, "config.jetstream.fileStore.pvc.size": "10Gi",
    "config.jetstream.fileStore.pvc.storageClassName": None, "config.jetstream.memoryStore.enabled": False,
    "config.monitor.enabled": True, "natsBox.enabled": True, "podDisruptionBudget.enabled": True,
}
OURS_UNDER_NATS = {"enabled", "subjectPrefix", "streamPrefix", "account", "external"}


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out |= _leaves(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_nats_values_are_the_nats_charts(chart: helm_python.Chart) -> None:
    passed = {k: v for k, v in _leaves(chart.values["nats"]).items() if k.split(".")[0] not in OURS_UNDER_NATS}
    unknown = set(passed) - set(NATS_CHART_DEFAULTS)
    assert not unknown, f"keys the nats chart does not have: {unknown}"
    for key, value in passed.items():
        default = NATS_CHART_DEFAULTS[key]
        assert default is None or value is None or type(value) is type(default), key
    # what the issue asks of NATS: JetStream on files on a PVC, a 3-node cluster; KEDA needs the monitor port
    assert passed["config.jetstream.enabled"] and passed["config.jetstream.fileStore.pvc.enabled"]
    assert passed["config.cluster.enabled"] and passed["config.cluster.replicas"] == 3
    assert passed["config.monitor.enabled"] and not passed["config.jetstream.memoryStore.enabled"]


# -- what the manifests do ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("drain", "grace", "expected"), [(300, None, 330), (0, None, 30), (3600, None, 3630),
                                                          (300, 301, 301)])
def test_env_worker_grace_period_is_above_its_drain_timeout(chart: helm_python.Chart, drain: int, grace: int | None,
                                                             expected: int) -> None:
    docs = render(chart, merged({"envWorker": {"drainTimeout": drain, "terminationGracePeriodSeconds": grace}}))
    pod = one(docs, "Deployment", f"{FULL}-env-worker")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == expected > drain
    assert env_of(pod["containers"][0])["DRAIN_TIMEOUT"]["value"] == str(drain)
    assert "lifecycle" not in pod["containers"][0]  # no preStop eating into the drain: it starts at SIGTERM


def test_gateway_sleeps_before_sigterm_within_its_grace_period(rendered: dict[str, list[dict[str, Any]]]) -> None:
    pod = one(rendered["defaults"], "Deployment", f"{FULL}-gateway")["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and 0 < int(sleep[1]) < pod["terminationGracePeriodSeconds"]
    # then the gateway drains its sockets (1012) within GATEWAY_DRAIN_TIMEOUT, still inside the grace period
    env = env_of(pod["containers"][0])
    assert float(env["GATEWAY_DRAIN_SPREAD"]["value"]) < float(env["GATEWAY_DRAIN_TIMEOUT"]["value"])
    assert int(sleep[1]) + float(env["GATEWAY_DRAIN_TIMEOUT"]["value"]) < pod["terminationGracePeriodSeconds"]
    from playcorder_gateway.settings import Settings as GatewaySettings
    assert {"GATEWAY_DRAIN_SPREAD", "GATEWAY_DRAIN_TIMEOUT"} <= {
        f.validation_alias for f in GatewaySettings.model_fields.values()}  # the names the gateway reads


@pytest.mark.parametrize("values_set", VALUE_SETS)
def test_network_policies_select_every_pod(rendered: dict[str, list[dict[str, Any]]], values_set: str) -> None:
    """Every pod of the release is selected by a NetworkPolicy with both policy types (so what is not allowed is
    denied), and each rule's pod selectors match real pods."""
    docs = rendered[values_set]
    policies = find(docs, "NetworkPolicy")
    pods = pod_specs(docs)
    for name, _, labels in pods:
        mine = [p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        assert mine, f"{name} is selected by no NetworkPolicy"
        assert any({"Ingress", "Egress"} <= set(p["spec"]["policyTypes"]) for p in mine), name
    all_labels = [labels for _, _, labels in pods]
    nats_pod = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/component": "nats"}  # the nats chart's nats.selectorLabels
    for p in policies:
        for rule in p["spec"].get("ingress", []) + p["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    sel = peer["podSelector"]["matchLabels"]
                    assert sel == nats_pod or any(sel.items() <= lab.items() for lab in all_labels), (p, sel)


def _allowed_from(policy: dict[str, Any], labels: dict[str, str] | None = None, namespace: str | None = None) -> bool:
    for rule in policy["spec"].get("ingress", []):
        for peer in rule.get("from", []):
            if labels is not None and "podSelector" in peer and \
                    peer["podSelector"]["matchLabels"].items() <= labels.items():
                return True
            ns = peer.get("namespaceSelector")
            if namespace is not None and ns is not None and \
                    ns.get("matchLabels", {}).get("kubernetes.io/metadata.name", namespace) == namespace:
                return True
    return False


def test_only_the_gateway_is_reachable_from_the_ingress_controller(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["minio"]
    for component in SERVICES + ("minio", "nats"):
        policy = one(docs, "NetworkPolicy", f"{FULL}-{component}")
        assert _allowed_from(policy, namespace="ingress-nginx") == (component == "gateway"), component
    worker = one(docs, "Deployment", f"{FULL}-env-worker")["spec"]["template"]["metadata"]["labels"]
    test_pod = one(docs, "Pod", f"{FULL}-test")["metadata"]["labels"]
    assert _allowed_from(one(docs, "NetworkPolicy", f"{FULL}-nats"), labels=worker)
    assert _allowed_from(one(docs, "NetworkPolicy", f"{FULL}-gateway"), labels=test_pod)
    assert not _allowed_from(one(docs, "NetworkPolicy", f"{FULL}-recorder"), labels=test_pod)
    # egress to external PostgreSQL and S3 only on their configured blocks and ports
    ext = rendered["external-everything"]
    egress = one(ext, "NetworkPolicy", f"{FULL}-recorder")["spec"]["egress"]
    blocks = {(peer["ipBlock"]["cidr"], r["ports"][0]["port"]) for r in egress for peer in r.get("to", [])
              if "ipBlock" in peer}
    assert blocks == {("10.20.0.0/16", 4222), ("10.30.0.0/16", 5432), ("10.40.0.0/16", 443)}
    worker_egress = one(ext, "NetworkPolicy", f"{FULL}-env-worker")["spec"]["egress"]
    assert not any(r["ports"][0]["port"] in (5432,) for r in worker_egress)  # workers never reach PostgreSQL


SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|DATABASE_URL)")


@pytest.mark.parametrize("values_set", VALUE_SETS)
def test_every_secret_env_comes_from_a_secret(rendered: dict[str, list[dict[str, Any]]], values_set: str) -> None:
    docs = rendered[values_set]
    secrets = {s["metadata"]["name"]: s for s in find(docs, "Secret")}
    given = {"pg", "s3", "nats", "ids"}  # existingSecrets named in the values sets
    for name, spec, _ in pod_specs(docs):
        for c in spec["containers"]:
            env = env_of(c)
            for key, e in env.items():
                if SECRET_NAME.search(key) or (key == "NATS_URL" and values_set == "external-everything"):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    assert ref, f"{name} {key} is not from a Secret"
                    assert ref["name"] in given or ref["key"] in secrets[ref["name"]]["data"], (name, key)
    text = yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])
    for value in SECRETS.values():
        assert value not in text  # in the chart's Secret (base64), nowhere else
    for cm in find(docs, "ConfigMap"):
        assert not any(SECRET_NAME.search(k) for k in cm["data"] if k != "test.sh"), cm["data"]


def test_given_secrets_land_in_the_charts_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    import base64

    data = one(rendered["external-everything"], "Secret", f"{FULL}-secrets")["data"]
    plain = {k: base64.b64decode(v).decode() for k, v in data.items()}
    assert plain == {"NATS_URL": SECRETS["nats"], "DATABASE_URL": SECRETS["db"], "S3_ACCESS_KEY": SECRETS["ak"],
                     "S3_SECRET_KEY": SECRETS["sk"], "METRICS_TOKEN": SECRETS["metrics"],
                     "PLAYCORDER_TOKEN": SECRETS["test"], "id-hash-secret": SECRETS["ids"]}
    assert not find(rendered["defaults"], "Secret")  # everything from existingSecrets: the chart makes none
    made = one(rendered["minio"], "Secret", f"{FULL}-secrets")["data"]
    minio = {k: base64.b64decode(v).decode() for k, v in made.items()}
    assert len(minio["S3_SECRET_KEY"]) == 40 and minio["S3_ACCESS_KEY"].startswith("playcorder-")


def test_ingress_routes_websockets_to_the_gateway(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["external-everything"]
    ing = one(docs, "Ingress", f"{FULL}-gateway")
    ann = ing["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert ann["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    paths = {p["path"]: p for p in ing["spec"]["rules"][0]["http"]["paths"]}
    assert {"/ws/", "/api/", "/"} <= set(paths)
    svc = one(docs, "Service", f"{FULL}-gateway")
    for p in paths.values():
        assert p["pathType"] == "Prefix"
        assert p["backend"]["service"]["name"] == svc["metadata"]["name"]
        assert p["backend"]["service"]["port"]["name"] in {sp["name"] for sp in svc["spec"]["ports"]}
    gw = one(docs, "Deployment", f"{FULL}-gateway")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= gw.items()
    assert ing["spec"]["tls"] == [{"hosts": ["playcorder.example.com"], "secretName": "playcorder-tls"}]


@pytest.mark.parametrize("values_set", VALUE_SETS)
def test_every_container_is_locked_down(rendered: dict[str, list[dict[str, Any]]], values_set: str) -> None:
    for name, spec, _ in pod_specs(rendered[values_set]):
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v and v["emptyDir"].get("sizeLimit")}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], name
            assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsUser"] == 10001
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp for m in c["volumeMounts"]), name
            assert c["resources"]["requests"] and c["resources"]["limits"], name


def test_probes_use_each_services_endpoints_and_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from playcorder_env_worker.settings import Settings as WorkerSettings
    from playcorder_exporter.settings import Settings as ExporterSettings
    from playcorder_gateway.settings import Settings as GatewaySettings
    from playcorder_recorder.settings import Settings as RecorderSettings

    settings = {"gateway": GatewaySettings, "env-worker": WorkerSettings, "recorder": RecorderSettings,
                "exporter": ExporterSettings}
    for component, cls in settings.items():
        c = container(rendered["defaults"], component)
        env = env_of(c)
        port_var, host_var = cls.model_fields["port"].validation_alias, cls.model_fields["host"].validation_alias
        assert env[host_var]["value"] == "0.0.0.0"  # type: ignore[index]
        assert int(env[port_var]["value"]) == c["ports"][0]["containerPort"]  # type: ignore[index]
        assert c["ports"][0]["name"] == "http"
        assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_services_have_a_pdb_of_one(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["defaults"]
    for component in SERVICES:
        pdb = one(docs, "PodDisruptionBudget", f"{FULL}-{component}")
        labels = one(docs, "Deployment", f"{FULL}-{component}")["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["maxUnavailable"] == 1 and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_recorder_and_exporter_scale_on_their_consumers_lag(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from playcorder.subjects import Subjects
    from playcorder_recorder.settings import Settings as RecorderSettings

    subjects = Subjects(stream_prefix="PC")
    exporter_source = (ROOT / "services/exporter/playcorder_exporter/jobs.py").read_text()
    docs = rendered["defaults"]
    rec = one(docs, "ScaledObject", f"{FULL}-recorder")["spec"]["triggers"]
    assert [(t["type"], t["metadata"]["stream"], t["metadata"]["consumer"]) for t in rec] == [
        ("nats-jetstream", subjects.record_stream, RecorderSettings.model_fields["recorder_durable"].default)]
    headless = f"{RELEASE}-nats-headless.{NAMESPACE}.svc.cluster.local:8222"  # the nats chart's headless Service
    assert rec[0]["metadata"]["natsServerMonitoringEndpoint"] == headless
    exp = one(docs, "ScaledObject", f"{FULL}-exporter")["spec"]["triggers"]
    consumers = [t["metadata"]["consumer"] for t in exp]
    assert {t["metadata"]["stream"] for t in exp} == {subjects.export_stream}
    assert all(f'durable="{c}"' in exporter_source for c in consumers) and len(consumers) == 2
    assert "replicas" not in one(docs, "Deployment", f"{FULL}-recorder")["spec"]  # KEDA owns it
    fixed = rendered["keda-off-fixed"]
    assert not find(fixed, "ScaledObject")
    assert one(fixed, "Deployment", f"{FULL}-recorder")["spec"]["replicas"] == 2
    ext = one(rendered["external-everything"], "ScaledObject", f"{FULL}-recorder")["spec"]["triggers"][0]["metadata"]
    assert ext["natsServerMonitoringEndpoint"] == "nats.example.com:8222"


def test_env_workers_scale_on_sessions_over_capacity(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from playcorder_env_worker.metrics import ACCEPTING, CAPACITY, SESSIONS_ACTIVE

    so = one(rendered["defaults"], "ScaledObject", f"{FULL}-env-worker")["spec"]
    query = so["triggers"][0]["metadata"]["query"]
    # a worker whose measured load refuses newcomers counts as full, whatever its sessions ÷ capacity
    assert f"{SESSIONS_ACTIVE._name}{{" in query and f"/ {CAPACITY._name}{{" in query
    assert f"(1 - {ACCEPTING._name}{{" in query and query.startswith("sum(clamp_max(")
    assert so["triggers"][0]["metadata"]["threshold"] == "0.7"
    assert so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    hpa = one(rendered["keda-off-hpa"], "HorizontalPodAutoscaler", f"{FULL}-env-worker")["spec"]
    assert hpa["metrics"] == [{"type": "Pods", "pods": {"metric": {"name": SESSIONS_ACTIVE._name},
                                                         "target": {"type": "AverageValue", "averageValue": "56"}}}]
    assert not find(rendered["keda-off-hpa"], "ScaledObject", f"{FULL}-env-worker")
    fixed = rendered["keda-off-fixed"]
    assert not find(fixed, "HorizontalPodAutoscaler")
    assert one(fixed, "Deployment", f"{FULL}-env-worker")["spec"]["replicas"] == 2
    assert one(fixed, "Deployment", f"{FULL}-gateway")["spec"]["replicas"] == 2
    gw = one(rendered["defaults"], "HorizontalPodAutoscaler", f"{FULL}-gateway")["spec"]["metrics"][0]["resource"]
    assert gw["name"] == "cpu"


def test_env_worker_keeps_its_pod_deletion_cost(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["defaults"]
    pod = one(docs, "Deployment", f"{FULL}-env-worker")["spec"]["template"]["spec"]
    env = env_of(pod["containers"][0])
    assert env["POD_DELETION_COST"]["value"] == "true"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    role = one(docs, "Role", f"{FULL}-env-worker")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}]
    binding = one(docs, "RoleBinding", f"{FULL}-env-worker")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"] and pod["automountServiceAccountToken"]
    off = one(rendered["nats-external-secret"], "Deployment", f"{FULL}-env-worker")["spec"]["template"]["spec"]
    assert "POD_NAME" not in env_of(off["containers"][0]) and not off["automountServiceAccountToken"]
    assert not find(rendered["nats-external-secret"], "Role")
    for component in ("gateway", "recorder", "exporter"):  # no API access for the others
        assert not one(docs, "Deployment", f"{FULL}-{component}")["spec"]["template"]["spec"][
            "automountServiceAccountToken"]


def _cli_help(*args: str) -> str:
    import sys

    out = subprocess.run([sys.executable, "-m", "playcorder.cli", *args, "--help"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(rendered: dict[str, list[dict[str, Any]]]) -> None:
    job = one(rendered["defaults"], "Job", f"{FULL}-migrations")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded" and "helm.sh/hook-weight" in ann
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == ["playcorder", "db", "upgrade"] and "command" not in c
    assert env_of(c)["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "DATABASE_URL"}
    assert "Apply migrations" in _cli_help("db", "upgrade")


def test_helm_test_plays_an_episode_and_requires_it_stored(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert not find(rendered["defaults"], "Pod")  # no token given: no test pod
    docs = rendered["external-everything"]
    pod = one(docs, "Pod", f"{FULL}-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = one(docs, "ConfigMap", f"{FULL}-test")["data"]["test.sh"]
    assert "playcorder load --study \"$study\" --players 1" in script and "--require-stored" in script
    assert "--require-stored" in _cli_help("load")
    env = env_of(pod["spec"]["containers"][0])
    gateway = one(docs, "Service", f"{FULL}-gateway")
    assert env["PLAYCORDER_URL"]["value"] == f"http://{gateway['metadata']['name']}:{gateway['spec']['ports'][0]['port']}"
    assert env["PLAYCORDER_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "PLAYCORDER_TOKEN"
    spec = yaml.safe_load(one(docs, "ConfigMap", f"{FULL}-test")["data"]["study.yaml"])
    from playcorder.specs import StudySpec

    StudySpec.model_validate(spec)  # the study the test creates is one the gateway accepts


def test_every_value_is_documented() -> None:
    """helm-docs style: each leaf value has a `# --` comment above it, or sits under a key that has one."""
    undocumented: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented) of the keys enclosing this line
    pending = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = True
        m = re.match(r"^( *)([A-Za-z0-9_.$-]+):(.*)$", line)
        if stripped.startswith("#") or not m:
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3).split(" #")[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = pending or any(d for _, _, d in stack)
        pending = False
        if rest and not documented:  # a leaf: a scalar, {} or [] on the key's line
            undocumented.append(".".join([k for _, k, _ in stack] + [key]))
        stack.append((indent, key, documented))
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


@pytest.mark.skipif(not os.environ.get("NATS_CHART_DIR"), reason="opt-in: set NATS_CHART_DIR to an unpacked nats chart "
                    "(helm pull nats --version 1.3.16 --untar); it is never vendored and cannot be downloaded offline")
def test_with_the_real_nats_chart(tmp_path: Path) -> None:
    """With the nats chart in charts/: its manifests are valid too, and the names, labels and ports this chart assumes
    (the client Service, the headless Service's monitoring port KEDA reads, the pods' labels the NetworkPolicy
    selects) are the ones it makes."""
    dest = tmp_path / "playcorder"
    shutil.copytree(CHART, dest, ignore=shutil.ignore_patterns("charts", "Chart.lock"))
    shutil.copytree(os.environ["NATS_CHART_DIR"], dest / "charts" / "nats")
    out = helm_python.Chart.load(dest).render(REQUIRED, name=RELEASE, namespace=NAMESPACE)
    docs = [d for path, text in out.items() if "/charts/nats/" in path and path.endswith(".yaml")
            for d in yaml.safe_load_all(text) if d]
    for version in KUBE_VERSIONS:
        for d in docs:
            kubernetes_validate.validate(d, version, strict=True)
    sts = one(docs, "StatefulSet", f"{RELEASE}-nats")
    assert sts["spec"]["replicas"] == 3 and [v["metadata"]["name"] for v in sts["spec"]["volumeClaimTemplates"]]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    ours = render(helm_python.Chart.load(CHART), REQUIRED)
    selector = one(ours, "NetworkPolicy", f"{FULL}-nats")["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert {p["name"]: p["port"] for p in one(docs, "Service", f"{RELEASE}-nats")["spec"]["ports"]}["nats"] == 4222
    headless = {p["name"]: p["port"] for p in one(docs, "Service", f"{RELEASE}-nats-headless")["spec"]["ports"]}
    assert headless["monitor"] == 8222
    assert env_of(container(ours, "recorder"))["NATS_URL"]["value"] == f"nats://{RELEASE}-nats:4222"
    assert not find(docs, "Deployment")  # no nats-box


FREE_FORM = {"commonLabels", "podSecurityContext", "containerSecurityContext", "resources", "requests", "limits",
             "nodeSelector", "affinity", "annotations", "labels", "studySpec"}


def test_the_schema_constrains_every_value(chart: helm_python.Chart) -> None:
    """Every key of values.yaml has a schema of its own (only free-form maps, such as resources or labels, and the
    keys passed through to the nats chart are open), and every object in the schema refuses unknown keys."""
    schema = chart.schema
    assert schema is not None
    defs = schema["$defs"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        return defs[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node

    unconstrained: list[str] = []

    def walk(values: dict[str, Any], node: dict[str, Any], path: str) -> None:
        node = resolve(node)
        if node.get("additionalProperties", True) is not False and path != "nats":
            unconstrained.append(path or "<top>")
        for key, value in values.items():
            if path == "nats" and key not in OURS_UNDER_NATS:
                continue  # the nats chart's values: test_nats_values_are_the_nats_charts
            sub = node.get("properties", {}).get(key)
            if sub is None:
                unconstrained.append(f"{path}.{key}".lstrip("."))
            elif isinstance(value, dict) and key not in FREE_FORM:
                walk(value, sub, f"{path}.{key}".lstrip("."))

    walk(chart.values, schema, "")
    assert not unconstrained, unconstrained


def test_campaign_settings_reach_the_gateway_and_the_id_secret_only_from_a_secret(chart: helm_python.Chart) -> None:
    defaults = env_of(container(render(chart, merged({})), "gateway"))
    assert "ID_HASH_SECRET" not in defaults and "FORWARDED_ALLOW_IPS" not in defaults  # the gateway's own defaults
    assert (defaults["ENROLL_RATE"]["value"], defaults["ENROLL_BURST"]["value"]) == ("30", "60")
    docs = render(chart, merged({"gateway": {"idHashSecret": {"existingSecret": "ids"},
                                             "forwardedAllowIps": "10.0.0.0/8", "enrollRate": 12}}))
    env = env_of(container(docs, "gateway"))
    assert env["ID_HASH_SECRET"] == {"name": "ID_HASH_SECRET",
                                     "valueFrom": {"secretKeyRef": {"name": "ids", "key": "id-hash-secret"}}}
    assert env["FORWARDED_ALLOW_IPS"]["value"] == "10.0.0.0/8" and env["ENROLL_RATE"]["value"] == "12"
    assert not any("id-hash" in str(d.get("data", {})) for d in docs if d["kind"] == "ConfigMap")
    from playcorder_gateway.settings import Settings as GatewaySettings
    names = {(f.validation_alias or n).upper() for n, f in GatewaySettings.model_fields.items()}
    assert {"ID_HASH_SECRET", "FORWARDED_ALLOW_IPS", "ENROLL_RATE", "ENROLL_BURST"} <= names


def test_the_id_hash_secret_given_as_a_value_is_only_in_the_charts_secret(chart: helm_python.Chart) -> None:
    import base64

    secret = SECRETS["ids"]
    docs = render(chart, merged({"gateway": {"idHashSecret": {"value": secret}}}))
    ref = env_of(container(docs, "gateway"))["ID_HASH_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{FULL}-secrets", "key": "id-hash-secret"}
    data = one(docs, "Secret", f"{FULL}-secrets")["data"]
    assert base64.b64decode(data["id-hash-secret"]).decode() == secret
    assert secret not in yaml.safe_dump_all(docs)  # base64 in the Secret, in plain text nowhere
    assert not any("ID_HASH" in k.upper() or "id-hash" in k for cm in find(docs, "ConfigMap") for k in cm["data"])
    # an existingSecret wins: the value is then copied nowhere, not even into the chart's Secret
    both = render(chart, merged({"gateway": {"idHashSecret": {"value": secret, "existingSecret": "ids",
                                                              "key": "k"}}}))
    assert env_of(container(both, "gateway"))["ID_HASH_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "ids",
                                                                                                  "key": "k"}
    assert not find(both, "Secret") and secret not in json.dumps(both)
    # only the gateway hashes ids: no other workload gets the secret
    for name, spec, _ in pod_specs(docs):
        if not name.endswith("-gateway"):
            assert all("ID_HASH_SECRET" not in env_of(c) for c in spec["containers"]), name


def test_forwarded_allow_ips_is_what_uvicorn_takes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    value = env_of(container(rendered["external-everything"], "gateway"))["FORWARDED_ALLOW_IPS"]["value"]
    trusted = _TrustedHosts(value)  # what uvicorn.run(forwarded_allow_ips=...) builds: a bad network raises here
    assert "10.1.2.3" in trusted and "192.168.4.5" in trusted and "172.16.0.1" not in trusted
    assert env_of(container(rendered["nats-external-secret"], "gateway"))["FORWARDED_ALLOW_IPS"]["value"] == "*"
