"""Operations in the chart: per-service credentials, dashboards, alerts, scraping.

Each service must receive only its own OAuth client credential (identity, the verifier,
every client's). Dashboards and alerts may only name metrics that some service really
exports: the exported names are read from the sources, from every call of the kit's metrics
helper (`metrics.counter/gauge/histogram("<what>", ...)`, exported as
`missiva_<service>_<what>` plus prometheus_client's suffixes), without starting anything.
"""

from __future__ import annotations

import ast
import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from missiva_platform.secrets import ServiceCredential, load_service_credentials

from .charts import (
    CHART,
    CLIENTS,
    GRPC_SERVICES,
    NAMESPACE,
    PREFIX,
    ROOT,
    Manifest,
    find,
    invalid,
    of_kind,
    pod_spec,
    render,
)

DASHBOARDS = CHART / "dashboards"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
KIT = ROOT / "libs" / "platform" / "src" / "missiva_platform"
CREDENTIALS = "service-credentials.json"
MOUNT = "/var/run/secrets/missiva"
CRD_KINDS = {"PrometheusRule", "ServiceMonitor"}


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def default_manifests(chart: helm.Chart) -> list[Manifest]:
    return render(chart)


def component(manifest: Manifest) -> str | None:
    return manifest["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in {"Deployment", "Job", "CronJob"}]


def secret_sources(workload: Manifest) -> dict[str, list[str]]:
    """Secret name -> keys mounted from it, for one pod's projected secret volume."""
    mounted: dict[str, list[str]] = {}
    for volume in pod_spec(workload)["volumes"]:
        for source in volume.get("projected", {}).get("sources", []):
            secret = source["secret"]
            mounted[secret["name"]] = [item["key"] for item in secret["items"]]
    return mounted


def decoded(secret: Manifest) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


# --------------------------------------------------------------------------- credentials


def dev_values(**client_overrides: dict[str, Any]) -> dict[str, Any]:
    """secrets.create with every key given and one distinct client secret per service."""
    services: dict[str, Any] = {}
    for name in GRPC_SERVICES:
        services[name] = {
            "secret": {
                "data": {
                    "DATABASE_URL": f"postgresql://{name}@postgresql/{name}",
                    "MIGRATION_DATABASE_URL": f"postgresql://{name}_owner@postgresql/{name}",
                }
            },
            "serviceClient": {"clientSecret": f"client-secret-of-{name}"},
        }
    services["gateway"] = {"serviceClient": {"clientSecret": "client-secret-of-gateway"}}
    services["identity"]["secret"]["data"]["jwt-signing-keys.json"] = "{}"
    services["delivery"]["secret"]["data"]["SMTP_URL"] = "smtp://mailpit:1025"
    for name, override in client_overrides.items():
        services[name]["serviceClient"].update(override)
    keys = ("token-keyring.json", "field-keys.json", "email-hash.key", "ip-salts.json")
    return {
        "secrets": {"create": True, "shared": {"data": {key: "dev" for key in keys}}},
        "services": services,
    }


def test_each_pod_mounts_only_its_own_services_credentials(
    default_manifests: list[Manifest],
) -> None:
    manifests = default_manifests
    for workload in workloads(manifests):
        name = component(workload)
        mounted = secret_sources(workload)
        holders = [secret for secret, keys in mounted.items() if CREDENTIALS in keys]
        if workload["kind"] == "Job":
            # Migrations get only DATABASE_URL.
            assert holders == [], f"{workload['metadata']['name']} mounts {holders}"
            continue
        if name == "gateway":
            # Its own credential (the service token for referral clicks), no shared keys.
            assert holders == [f"{PREFIX}-gateway"], workload["metadata"]["name"]
            assert not {f"{PREFIX}-{other}" for other in GRPC_SERVICES} & set(mounted)
            continue
        # Servers, retention and scheduled jobs: the file, from the service's own Secret.
        assert holders == [f"{PREFIX}-{name}"], workload["metadata"]["name"]
        others = {f"{PREFIX}-{other}" for other in GRPC_SERVICES if other != name}
        assert not others & set(mounted), f"{name} mounts another service's Secret"
        assert f"{PREFIX}-shared" in mounted
        assert CREDENTIALS not in mounted[f"{PREFIX}-shared"]

    for name in CLIENTS:
        config = find(manifests, "ConfigMap", f"{PREFIX}-{name}")["data"]
        assert config["SERVICE_CREDENTIALS_FILE"] == f"{MOUNT}/{CREDENTIALS}"


def test_a_clients_secret_holds_its_own_entry_and_identitys_every_clients(
    chart: helm.Chart, tmp_path: Path
) -> None:
    manifests = render(chart, dev_values())
    assert invalid(manifests) == []
    secrets = {s["metadata"]["name"]: decoded(s) for s in of_kind(manifests, "Secret")}

    for name in CLIENTS:
        data = secrets[f"{PREFIX}-{name}"]
        expected = {
            name: {"client_id": f"missiva-{name}", "client_secret": f"client-secret-of-{name}"}
        }
        if name == "identity":
            # The verifier checks the secrets it is shown: it holds every client's entry.
            expected = {
                client: {
                    "client_id": f"missiva-{client}",
                    "client_secret": f"client-secret-of-{client}",
                }
                for client in CLIENTS
            }
        assert json.loads(data[CREDENTIALS]) == expected
        if name != "identity":
            everything = json.dumps(data)
            for other in CLIENTS:
                if other != name:
                    assert f"client-secret-of-{other}" not in everything, f"{name} has {other}'s"
    assert "client-secret-of" not in json.dumps(secrets[f"{PREFIX}-shared"])

    # The kit's loader reads a one-entry file as it is: no code change is needed.
    path = tmp_path / CREDENTIALS
    path.write_text(secrets[f"{PREFIX}-consent"][CREDENTIALS])
    assert load_service_credentials(path) == {
        "consent": ServiceCredential("missiva-consent", "client-secret-of-consent")
    }

    # A client secret change rolls the pods that read it: the client's and identity's only.
    changed = render(chart, dev_values(billing={"clientSecret": "rotated"}))

    def checksum(manifests: list[Manifest], name: str) -> str:
        pod = find(manifests, "Deployment", f"{PREFIX}-{name}")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/secret"])

    rolled = {n for n in GRPC_SERVICES if checksum(changed, n) != checksum(manifests, n)}
    assert rolled == {"billing", "identity"}


def test_a_missing_client_secret_names_the_value_to_set(chart: helm.Chart) -> None:
    values = dev_values(billing={"clientSecret": ""})
    with pytest.raises(
        helm.HelmRenderError, match=r"services\.billing\.serviceClient\.clientSecret"
    ):
        render(chart, values)


def test_a_credential_can_live_in_a_secret_of_its_own(chart: helm.Chart) -> None:
    manifests = render(
        chart,
        {"services": {"consent": {"serviceClient": {"existingSecret": "vault-consent-client"}}}},
    )
    assert invalid(manifests) == []
    consent = find(manifests, "Deployment", f"{PREFIX}-consent")
    mounted = secret_sources(consent)
    assert mounted["vault-consent-client"] == [CREDENTIALS]
    assert CREDENTIALS not in mounted.get(f"{PREFIX}-consent", [])

    # secrets.create leaves that Secret to the operator and the key out of consent's own.
    manifests = render(
        chart,
        {**dev_values(consent={"existingSecret": "vault-consent-client"})},
    )
    secrets = {s["metadata"]["name"]: decoded(s) for s in of_kind(manifests, "Secret")}
    assert "vault-consent-client" not in secrets
    assert CREDENTIALS not in secrets.get(f"{PREFIX}-consent", {})
    assert "consent" in json.loads(secrets[f"{PREFIX}-identity"][CREDENTIALS])


def test_a_service_that_is_no_client_gets_no_credentials(chart: helm.Chart) -> None:
    manifests = render(chart, dev_values(campaign={"enabled": False}))
    secrets = {s["metadata"]["name"]: decoded(s) for s in of_kind(manifests, "Secret")}
    assert CREDENTIALS not in secrets[f"{PREFIX}-campaign"]
    assert "campaign" not in json.loads(secrets[f"{PREFIX}-identity"][CREDENTIALS])
    campaign = find(manifests, "Deployment", f"{PREFIX}-campaign")
    assert all(CREDENTIALS not in keys for keys in secret_sources(campaign).values())
    config = find(manifests, "ConfigMap", f"{PREFIX}-campaign")["data"]
    assert "SERVICE_CREDENTIALS_FILE" not in config


def test_the_credentials_file_in_secret_files_is_refused(chart: helm.Chart) -> None:
    # Values written for the chart before per-service credentials mounted the whole file.
    old = {
        "services": {"consent": {"secret": {"files": {"SERVICE_CREDENTIALS_FILE": CREDENTIALS}}}}
    }
    with pytest.raises(helm.HelmRenderError, match="serviceClient"):
        render(chart, old)


# --------------------------------------------------------------------------- exported metrics

# Where the metrics of each kit module are exported from. "servers": every service built on
# ServiceApp; "consumers": those that register JetStream consumers; None: a process nobody
# scrapes (the retention Job exits when done) or test tooling.
KIT_EXPORTERS: dict[str, str | None] = {
    "interceptors.py": "servers",
    "service.py": "servers",
    "outbox.py": "servers",
    "bus.py": "consumers",
    "retention.py": None,
    "testing/chaos.py": None,
}
METRIC_KINDS = {"counter", "gauge", "histogram"}


def metric_definitions(path: Path) -> list[tuple[str, str]]:
    """(kind, what) of every `metrics.counter/gauge/histogram("<what>", ...)` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in METRIC_KINDS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "metrics"
        ):
            first = node.args[0] if node.args else None
            where = f"{path}:{node.lineno}: a metric name must be a literal for this test"
            assert isinstance(first, ast.Constant), where
            assert isinstance(first.value, str), where
            found.append((node.func.attr, first.value))
    return found


def sample_names(kind: str, name: str) -> set[str]:
    """The series names prometheus_client exposes for one metric."""
    if kind == "counter":
        base = name.removesuffix("_total")
        return {f"{base}_total", f"{base}_created"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    return {name}


def exported_metrics() -> set[str]:
    sources = {
        d.name: "\n".join(p.read_text() for p in sorted((d / "src").rglob("*.py")))
        for d in sorted((ROOT / "services").iterdir())
        if (d / "src").is_dir()
    }
    # A service builds the kit's ServiceApp, or a subclass of it (delivery's adds its sender).
    servers = {
        name for name, text in sources.items() if "ServiceApp(" in text or "(ServiceApp):" in text
    }
    consumers = {name for name, text in sources.items() if ".add_consumer(" in text}
    exporters = {"servers": servers, "consumers": consumers}

    names: set[str] = set()
    for path in sorted(KIT.rglob("*.py")):
        definitions = metric_definitions(path)
        if not definitions:
            continue
        module = path.relative_to(KIT).as_posix()
        assert module in KIT_EXPORTERS, (
            f"{module} defines metrics: say in KIT_EXPORTERS which processes export them"
        )
        exporter = KIT_EXPORTERS[module]
        for service in exporters[exporter] if exporter else ():
            for kind, what in definitions:
                names |= sample_names(kind, f"missiva_{service}_{what}")
    for service in sources:
        for path in sorted((ROOT / "services" / service / "src").rglob("*.py")):
            for kind, what in metric_definitions(path):
                names |= sample_names(kind, f"missiva_{service}_{what}")
    return names


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_metrics()


def test_the_source_scan_finds_kit_and_service_metrics(exported: set[str]) -> None:
    for name in (
        "missiva_identity_grpc_server_handled_total",
        "missiva_billing_grpc_server_handling_seconds_bucket",
        "missiva_campaign_db_pool_connections",
        "missiva_delivery_outbox_lag_seconds",
        "missiva_consent_consumer_dead_lettered_total",
        "missiva_consent_unsubscribe_ip_flagged_total",
        "missiva_gateway_http_request_duration_seconds_count",
    ):
        assert name in exported
    # Only services with consumers export consumer metrics; nobody scrapes retention.
    assert "missiva_gateway_consumer_lag_messages" not in exported
    assert not [name for name in exported if "retention_rows" in name]
    assert not [name for name in exported if name.startswith("missiva_chaos_")]


NAME_MATCHER = re.compile(r'__name__\s*=~\s*"((?:[^"\\]|\\.)*)"')
METRIC_NAME = re.compile(r"\bmissiva_(?:[A-Za-z0-9_]|\$\{\w+\})+")
VARIABLE = re.compile(r"\$\{(\w+)\}")


def unknown_metrics(
    expression: str, exported: set[str], variables: dict[str, list[str]] | None = None
) -> list[str]:
    """The missiva_* names (or name regexes) in a PromQL expression that nothing exports."""
    unknown = []
    for pattern in NAME_MATCHER.findall(expression):
        regex = re.compile(pattern.replace("\\\\", "\\"))
        if not any(regex.fullmatch(name) for name in exported):
            unknown.append(f"__name__=~{pattern!r}")
    for token in METRIC_NAME.findall(NAME_MATCHER.sub("", expression)):
        names = [token]
        for variable in VARIABLE.findall(token):
            assert variable in (variables or {}), f"{token}: no values for ${variable}"
            assert variables is not None
            names = [n.replace(f"${{{variable}}}", v) for n in names for v in variables[variable]]
        unknown.extend(name for name in names if name not in exported)
    return unknown


def test_the_name_check_catches_a_misspelt_metric(exported: set[str]) -> None:
    assert unknown_metrics("rate(missiva_consent_unsubscribes_total[5m])", exported) == []
    assert unknown_metrics("rate(missiva_consent_unsubscribed_total[5m])", exported) == [
        "missiva_consent_unsubscribed_total"
    ]
    assert unknown_metrics(
        "missiva_${s}_consumer_lag_messages", exported, {"s": ["consent", "gateway"]}
    ) == ["missiva_gateway_consumer_lag_messages"]
    assert unknown_metrics('{__name__=~"missiva_.+_consumer_lag_messages"}', exported) == []
    assert unknown_metrics('{__name__=~"missiva_.+_consumer_lags"}', exported) != []


# --------------------------------------------------------------------------- dashboards


def dashboard_files() -> list[Path]:
    files = sorted(DASHBOARDS.glob("*.json"))
    assert len(files) >= 2
    return files


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield (
                f"variable {variable['name']}",
                query["query"] if isinstance(query, dict) else query,
            )


def custom_variables(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    return {
        v["name"]: [value.strip() for value in v["query"].split(",")]
        for v in dashboard["templating"]["list"]
        if v["type"] == "custom"
    }


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.name)
def test_every_metric_a_dashboard_names_is_exported(path: Path, exported: set[str]) -> None:
    dashboard = json.loads(path.read_text())
    variables = custom_variables(dashboard)
    problems = []
    seen = 0
    for where, expr in expressions(dashboard):
        seen += 1
        problems.extend(f"{where}: {name}" for name in unknown_metrics(expr, exported, variables))
    assert seen > 5
    assert problems == []


def test_the_overview_repeats_a_row_for_every_grpc_service(
    default_manifests: list[Manifest],
) -> None:
    overview = json.loads((DASHBOARDS / "overview.json").read_text())
    services = custom_variables(overview)["service"]
    deployments = of_kind(default_manifests, "Deployment")
    grpc = sorted(
        component(d) or ""
        for d in deployments
        if any(p["name"] == "grpc" for p in pod_spec(d)["containers"][0]["ports"])
    )
    assert sorted(services) == grpc
    assert [p for p in overview["panels"] if p.get("repeat") == "service"]


def test_dashboards_ship_as_config_maps_for_the_grafana_sidecar(
    chart: helm.Chart, default_manifests: list[Manifest]
) -> None:
    manifests = default_manifests
    maps = [
        m for m in of_kind(manifests, "ConfigMap") if "grafana_dashboard" in m["metadata"]["labels"]
    ]
    assert invalid(maps) == []
    assert len(maps) == len(dashboard_files())
    uids = set()
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = config_map["data"].items()
        assert key == "missiva-" + key.removeprefix("missiva-")
        shipped = (DASHBOARDS / key.removeprefix("missiva-")).read_text()
        assert json.loads(text) == json.loads(shipped)
        uids.add(json.loads(text)["uid"])
    assert len(uids) == len(maps)

    moved = render(
        chart,
        {
            "monitoring": {
                "dashboards": {
                    "namespace": "monitoring",
                    "label": "grafana_dashboard_missiva",
                    "labelValue": "yes",
                    "annotations": {"grafana_folder": "Missiva"},
                }
            }
        },
    )
    maps = [
        m for m in of_kind(moved, "ConfigMap") if m["metadata"].get("namespace") == "monitoring"
    ]
    assert len(maps) == len(dashboard_files())
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard_missiva"] == "yes"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Missiva"}

    off = render(chart, {"monitoring": {"dashboards": {"enabled": False}}})
    assert not [m for m in of_kind(off, "ConfigMap") if "dashboard" in m["metadata"]["name"]]


# --------------------------------------------------------------------------- alerts

SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook's second-level headings."""
    headings = re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def balanced(expr: str) -> bool:
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    in_string = False
    previous = ""
    for char in expr:
        if char == '"' and previous != "\\":
            in_string = not in_string
        elif not in_string and char in "([{":
            stack.append(char)
        elif not in_string and char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
        previous = char if previous != "\\" else ""
    return not stack and not in_string


@pytest.fixture(scope="module")
def rules_render(chart: helm.Chart) -> list[Manifest]:
    return render(
        chart,
        {
            "monitoring": {
                "prometheusRules": {
                    "enabled": True,
                    "labels": {"release": "kube-prometheus-stack"},
                    "additionalAlertLabels": {"team": "platform"},
                }
            }
        },
    )


def all_rules(manifests: list[Manifest]) -> list[dict[str, Any]]:
    (rule,) = of_kind(manifests, "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_alerts_and_the_service_monitor_are_off_by_default(
    default_manifests: list[Manifest],
) -> None:
    assert not [m for m in default_manifests if m["kind"] in CRD_KINDS]


def test_the_prometheus_rule_is_well_formed(rules_render: list[Manifest]) -> None:
    # Everything else stays valid Kubernetes; the CRD is checked here by hand.
    assert invalid([m for m in rules_render if m["kind"] not in CRD_KINDS]) == []
    (rule,) = of_kind(rules_render, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == PREFIX
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(rule["spec"]) == {"groups"}

    groups = rule["spec"]["groups"]
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names))
    assert {f"missiva.{s}" for s in (*GRPC_SERVICES, "gateway")} <= set(names)
    anchors = runbook_anchors()
    for group in groups:
        assert set(group) == {"name", "rules"}
        assert group["rules"]
        alerts = [r["alert"] for r in group["rules"]]
        for r in group["rules"]:
            where = f"{group['name']}/{r['alert']}"
            assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, where
            assert re.fullmatch(r"Missiva[A-Z][A-Za-z]+", r["alert"]), where
            assert isinstance(r["expr"], str), where
            assert r["expr"].strip(), where
            assert balanced(r["expr"]), f"{where}: unbalanced {r['expr']}"
            assert DURATION.match(r.get("for", "0s")), where
            assert r["labels"]["severity"] in SEVERITIES, where
            assert r["labels"]["team"] == "platform", where
            if group["name"] != "missiva.consumers":
                assert r["labels"]["service"], where
            annotations = r["annotations"]
            assert annotations["summary"].strip(), where
            assert annotations["description"].strip(), where
            url, _, anchor = annotations["runbook_url"].partition("#")
            assert url.endswith("docs/runbooks.md"), where
            assert anchor == r["alert"].lower(), where
            assert anchor in anchors, f"{where}: no runbook"
        # The same alert name twice in a group only for different scheduled jobs.
        repeated = {a for a in alerts if alerts.count(a) > 1}
        assert repeated <= {"MissivaScheduledJobFailed"}, group["name"]


def test_every_alert_has_a_runbook_and_every_runbook_an_alert(
    rules_render: list[Manifest],
) -> None:
    alerts = {r["alert"].lower() for r in all_rules(rules_render)}
    assert alerts == runbook_anchors()


def test_the_alerts_cover_the_failure_modes(rules_render: list[Manifest]) -> None:
    alerts = {r["alert"] for r in all_rules(rules_render)}
    assert {
        "MissivaServiceDown",
        "MissivaServiceNotReady",
        "MissivaGrpcErrorRatioHigh",
        "MissivaGrpcLatencyHigh",
        "MissivaOutboxLagHigh",
        "MissivaOutboxStuck",
        "MissivaConsumerDeadLettered",
        "MissivaConsumerRedeliveryStorm",
        "MissivaDbPoolExhausted",
        "MissivaRetentionJobFailed",
    } <= alerts
    retention = [r for r in all_rules(rules_render) if r["alert"] == "MissivaRetentionJobFailed"]
    assert sorted(r["labels"]["service"] for r in retention) == sorted(GRPC_SERVICES)
    jobs = [r for r in all_rules(rules_render) if r["alert"] == "MissivaScheduledJobFailed"]
    assert {"send-legal-notices", "digest"} <= {r["labels"]["missiva_job"] for r in jobs}
    identity_down = next(
        r
        for r in all_rules(rules_render)
        if r["alert"] == "MissivaServiceDown" and r["labels"]["service"] == "identity"
    )
    assert f'deployment="{PREFIX}-identity"' in identity_down["expr"]


def test_every_metric_an_alert_names_is_exported(
    rules_render: list[Manifest], exported: set[str]
) -> None:
    problems = [
        f"{r['alert']}: {name}"
        for r in all_rules(rules_render)
        for name in unknown_metrics(r["expr"], exported)
    ]
    assert problems == []


def test_alerts_select_the_release_namespace_or_the_given_selector(
    chart: helm.Chart, rules_render: list[Manifest]
) -> None:
    for r in all_rules(rules_render):
        for selector in re.findall(r"missiva_\w+\{[^}]*\}", r["expr"]):
            assert f'namespace="{NAMESPACE}"' in selector, r["alert"]
    custom = render(
        chart,
        {"monitoring": {"prometheusRules": {"enabled": True, "selector": 'k8s_ns="missiva"'}}},
    )
    for r in all_rules(custom):
        for selector in re.findall(r"missiva_\w+\{[^}]*\}", r["expr"]):
            assert 'k8s_ns="missiva"' in selector, r["alert"]


def test_a_disabled_service_has_no_alerts(chart: helm.Chart) -> None:
    manifests = render(
        chart,
        {
            "monitoring": {"prometheusRules": {"enabled": True}},
            "services": {"consent": {"enabled": False}},
        },
    )
    rules = all_rules(manifests)
    assert not [r for r in rules if r["labels"].get("service") == "consent"]
    assert not [r for r in rules if "missiva_consent_" in r["expr"]]


# --------------------------------------------------------------------------- scraping


def test_the_service_monitor_scrapes_every_metrics_port(chart: helm.Chart) -> None:
    manifests = render(
        chart,
        {"monitoring": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}},
    )
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selector = spec["selector"]["matchLabels"]
    ports = {e["port"] for e in spec["endpoints"]}
    assert all(e["path"] == "/metrics" and DURATION.match(e["interval"]) for e in spec["endpoints"])
    assert spec["selector"]["matchExpressions"] == [
        {"key": "missiva.dev/headless", "operator": "DoesNotExist"},
        {"key": "missiva.dev/smtp-inbound", "operator": "DoesNotExist"},
    ]
    every = of_kind(manifests, "Service")
    unscraped = ("missiva.dev/headless", "missiva.dev/smtp-inbound")
    services = [s for s in every if not set(unscraped) & set(s["metadata"]["labels"])]
    headless = [s for s in every if "missiva.dev/headless" in s["metadata"]["labels"]]
    assert len(services) == len(GRPC_SERVICES) + 1
    assert len(headless) == len(GRPC_SERVICES)
    assert all(s["spec"]["clusterIP"] == "None" for s in headless)
    for service in services:
        labels = service["metadata"]["labels"]
        assert selector.items() <= labels.items(), service["metadata"]["name"]
        # The port the pod annotations name for scraping is one the monitor scrapes.
        names = {p["name"] for p in service["spec"]["ports"]}
        assert names & ports, service["metadata"]["name"]
        assert "grpc" not in ports
