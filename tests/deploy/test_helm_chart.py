"""The Helm chart renders offline and every manifest it renders is valid Kubernetes.

Rendering and validation: see ``charts.py``.
"""

from __future__ import annotations

import time
from typing import Any

import helm_python as helm
import pytest

from .charts import (
    CHART,
    GRPC_SERVICES,
    KUBERNETES_VERSION,
    PREFIX,
    RELEASE,
    Manifest,
    find,
    invalid,
    of_kind,
    pod_spec,
    render,
)

HOOK_KINDS = {"Job"}


@pytest.fixture(scope="module")
def default_render(chart: helm.Chart) -> tuple[list[Manifest], float]:
    started = time.perf_counter()
    manifests = render(chart)
    return manifests, time.perf_counter() - started


@pytest.fixture(scope="module")
def manifests(default_render: tuple[list[Manifest], float]) -> list[Manifest]:
    return default_render[0]


def container(workload: Manifest) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return containers[0]


def component(manifest: Manifest) -> str | None:
    return manifest["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def cron_jobs_of_workload(manifests: list[Manifest], workload: str) -> list[Manifest]:
    return [
        c
        for c in of_kind(manifests, "CronJob")
        if c["metadata"]["labels"]["missiva.io/workload"] == workload
    ]


def test_default_render_is_valid_kubernetes_and_fast(
    default_render: tuple[list[Manifest], float],
) -> None:
    manifests, seconds = default_render
    assert manifests
    assert invalid(manifests) == []
    assert seconds < 5, f"one render took {seconds:.2f} s"


def test_the_chart_passes_helm_lint_strict(chart: helm.Chart) -> None:
    report = helm.lint(CHART, strict=True, kube_version=f"v{KUBERNETES_VERSION}")
    assert report["errors"] == []
    # Severity 1 is informational ("icon is recommended"); warnings and errors are not allowed.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_every_service_gets_a_deployment_a_service_and_a_migration_job(
    manifests: list[Manifest],
) -> None:
    for name in GRPC_SERVICES:
        deployment = find(manifests, "Deployment", f"{PREFIX}-{name}")
        assert container(deployment)["command"] == ["python", "-m", f"missiva_{name}", "serve"]
        service = find(manifests, "Service", f"{PREFIX}-{name}")
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
            "grpc": 50051,
            "http-metrics": 9090,
        }
        job = find(manifests, "Job", f"{PREFIX}-{name}-migrate")
        assert container(job)["command"] == ["python", "-m", f"missiva_{name}", "migrate"]
        find(manifests, "ServiceAccount", f"{PREFIX}-{name}")
        find(manifests, "ConfigMap", f"{PREFIX}-{name}")

    gateway = find(manifests, "Deployment", f"{PREFIX}-gateway")
    assert container(gateway)["command"] == ["python", "-m", "missiva_gateway"]
    service = find(manifests, "Service", f"{PREFIX}-gateway")
    # The public port, and the metrics port apart from it.
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [
        ("http", 8080),
        ("http-metrics", 9090),
    ]
    assert not [m for m in of_kind(manifests, "Job") if component(m) == "gateway"]


def test_a_service_selects_only_its_server_pods_never_migration_or_retention_pods(
    manifests: list[Manifest],
) -> None:
    for service in of_kind(manifests, "Service"):
        assert service["spec"]["selector"]["missiva.io/workload"] == "server"
    for job in of_kind(manifests, "Job"):
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels["missiva.io/workload"] == "migrate"


def test_services_probe_grpc_health_and_the_gateway_probes_http(
    manifests: list[Manifest],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    assert len(deployments) == 6
    for deployment in deployments:
        probes = {
            kind: container(deployment)[kind]
            for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        }
        if component(deployment) == "gateway":
            assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert all("grpc" not in probe for probe in probes.values())
        else:
            assert probes["readinessProbe"]["grpc"] == {"port": 50051}
            # Liveness asks for the kit's always-SERVING "liveness" name, so a database
            # outage does not restart pods.
            assert probes["livenessProbe"]["grpc"] == {"port": 50051, "service": "liveness"}
            assert all("httpGet" not in probe for probe in probes.values())


def test_every_pod_runs_as_non_root_on_a_read_only_root_without_capabilities(
    manifests: list[Manifest],
) -> None:
    workloads = [m for m in manifests if m["kind"] in {"Deployment", "Job", "CronJob"}]
    # Servers, migration Jobs, retention CronJobs, scheduled admin commands (`jobs:`).
    assert len(workloads) == 6 + 5 + 5 + 9
    for workload in workloads:
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        context = container(workload)["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container(workload)["volumeMounts"]


def test_a_disabled_service_disappears_and_no_network_path_leads_to_it(
    chart: helm.Chart,
) -> None:
    manifests = render(chart, {"services": {"billing": {"enabled": False}}})

    assert invalid(manifests) == []
    assert not [m for m in manifests if component(m) == "billing"]
    assert not [m for m in manifests if "billing" in m["metadata"]["name"]]
    for policy in of_kind(manifests, "NetworkPolicy"):
        assert "'app.kubernetes.io/component': 'billing'" not in str(policy["spec"])
    find(manifests, "Deployment", f"{PREFIX}-campaign")


def test_a_service_override_wins_while_the_other_defaults_survive_the_merge(
    chart: helm.Chart, manifests: list[Manifest]
) -> None:
    overridden = render(
        chart,
        {
            "services": {
                "campaign": {
                    "replicas": 5,
                    "resources": {"limits": {"memory": "1Gi"}},
                    "env": {"CAMPAIGN_BATCH_SIZE": 500},
                }
            }
        },
    )
    assert invalid(overridden) == []

    campaign = find(overridden, "Deployment", f"{PREFIX}-campaign")
    assert campaign["spec"]["replicas"] == 5
    assert container(campaign)["resources"] == {
        "requests": {"cpu": "100m", "memory": "192Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    default_campaign = find(manifests, "Deployment", f"{PREFIX}-campaign")
    assert container(campaign)["securityContext"] == container(default_campaign)["securityContext"]
    assert container(campaign)["readinessProbe"] == container(default_campaign)["readinessProbe"]
    assert container(campaign)["image"] == container(default_campaign)["image"]

    config = find(overridden, "ConfigMap", f"{PREFIX}-campaign")["data"]
    assert config["CAMPAIGN_BATCH_SIZE"] == "500"
    assert config["LOG_LEVEL"] == "INFO"
    assert config["IDENTITY_TARGET"] == f"dns:///{PREFIX}-identity-pods:50051"

    # The config changed, so the pods roll; other services keep their pods.
    annotation = "checksum/config"
    template = campaign["spec"]["template"]["metadata"]["annotations"]
    default_template = default_campaign["spec"]["template"]["metadata"]["annotations"]
    assert template[annotation] != default_template[annotation]
    for name in ("identity", "consent", "delivery", "billing", "gateway"):
        deployment = find(overridden, "Deployment", f"{PREFIX}-{name}")
        assert deployment["spec"]["replicas"] == 2


def test_a_typo_in_a_service_entry_is_refused_by_the_schema(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmValuesError, match="replicsa"):
        render(chart, {"services": {"identity": {"replicsa": 3}}})
    with pytest.raises(helm.HelmValuesError, match="replicsa"):
        chart.validate_schema({"default": {"replicsa": 3}})
    with pytest.raises(helm.HelmValuesError, match="protocol"):
        chart.validate_schema({"services": {"identity": {"protocol": "soap"}}})


def test_calls_must_name_a_service_of_the_chart(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match="idenitty"):
        render(chart, {"services": {"campaign": {"calls": ["idenitty"]}}})


def test_migration_jobs_run_as_pre_install_and_pre_upgrade_hooks(
    manifests: list[Manifest],
) -> None:
    jobs = of_kind(manifests, "Job")
    assert sorted(component(job) or "" for job in jobs) == sorted(GRPC_SERVICES)
    for job in jobs:
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert annotations["helm.sh/hook-weight"] == "0"
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        pod = pod_spec(job)
        assert pod["restartPolicy"] == "Never"
        # Hooks run before the release's ServiceAccounts, ConfigMaps and key files exist.
        assert "serviceAccountName" not in pod
        env = {e["name"]: e for e in container(job)["env"]}
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{PREFIX}-{component(job)}",
            "key": "MIGRATION_DATABASE_URL",  # the owner role; the service runs as another
        }
        assert "envFrom" not in container(job)
        assert not any(name.endswith("_FILE") for name in env)
        assert [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_retention_runs_as_a_cron_job_per_service_on_its_own_schedule(
    manifests: list[Manifest],
) -> None:
    cron_jobs = {component(c): c for c in cron_jobs_of_workload(manifests, "retention")}
    assert sorted(cron_jobs) == sorted(GRPC_SERVICES)
    assert cron_jobs["identity"]["spec"]["schedule"] == "10 3 * * *"
    assert len({c["spec"]["schedule"] for c in cron_jobs.values()}) == len(cron_jobs)
    for name, cron_job in cron_jobs.items():
        assert cron_job["spec"]["concurrencyPolicy"] == "Forbid"
        assert container(cron_job)["command"] == ["python", "-m", f"missiva_{name}", "retention"]


def test_admin_commands_run_as_cron_jobs_in_the_services_own_pod(
    manifests: list[Manifest],
) -> None:
    cron_jobs = of_kind(manifests, "CronJob")
    jobs = {c["metadata"]["name"]: c for c in cron_jobs_of_workload(manifests, "job")}
    # Exactly the nine admin commands, besides one retention CronJob per gRPC service.
    assert sorted(jobs) == [
        f"{PREFIX}-billing-expire-reservations",
        f"{PREFIX}-billing-renew-subscriptions",
        f"{PREFIX}-billing-sdi-receipts",
        f"{PREFIX}-billing-sdi-transmit",
        f"{PREFIX}-campaign-start-due",
        f"{PREFIX}-consent-digest",
        f"{PREFIX}-consent-send-document-notices",
        f"{PREFIX}-delivery-recheck-domains",
        f"{PREFIX}-identity-send-legal-notices",
    ]
    assert len(cron_jobs) == len(GRPC_SERVICES) + 9
    assert invalid(list(jobs.values())) == []

    due = jobs[f"{PREFIX}-campaign-start-due"]
    assert due["spec"]["schedule"] == "* * * * *"
    assert container(due)["command"] == ["python", "-m", "missiva_campaign", "start-due"]

    expiry = jobs[f"{PREFIX}-billing-expire-reservations"]
    assert component(expiry) == "billing"
    assert expiry["spec"]["concurrencyPolicy"] == "Forbid"
    assert container(expiry)["command"] == [
        "python",
        "-m",
        "missiva_billing",
        "expire-reservations",
    ]

    # Billing's scheduled jobs: the commands `python -m missiva_billing` has (a test there runs
    # each), hourly for subscriptions, every 10 minutes (apart) for the SDI.
    for job, schedule in (
        ("renew-subscriptions", "25 * * * *"),
        ("sdi-transmit", "*/10 * * * *"),
        ("sdi-receipts", "5-59/10 * * * *"),
    ):
        cron = jobs[f"{PREFIX}-billing-{job}"]
        assert component(cron) == "billing"
        assert cron["spec"]["schedule"] == schedule
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert container(cron)["command"] == ["python", "-m", "missiva_billing", job]
        assert cron["metadata"]["labels"]["missiva.io/job"] == job

    notices = jobs[f"{PREFIX}-identity-send-legal-notices"]
    assert component(notices) == "identity"
    assert notices["spec"]["schedule"] == "0 * * * *"
    assert notices["spec"]["concurrencyPolicy"] == "Forbid"
    assert container(notices)["command"] == [
        "python",
        "-m",
        "missiva_identity",
        "send-legal-notices",
    ]

    digest = jobs[f"{PREFIX}-consent-digest"]
    assert component(digest) == "consent"
    assert digest["spec"]["schedule"] == "30 0 * * *"
    assert digest["spec"]["timeZone"] == "Etc/UTC"
    assert container(digest)["command"] == ["python", "-m", "missiva_consent", "digest"]

    document_notices = jobs[f"{PREFIX}-consent-send-document-notices"]
    assert component(document_notices) == "consent"
    assert document_notices["spec"]["schedule"] == "5 * * * *"
    assert document_notices["spec"]["concurrencyPolicy"] == "Forbid"
    assert container(document_notices)["command"] == [
        "python",
        "-m",
        "missiva_consent",
        "send-document-notices",
    ]

    recheck = jobs[f"{PREFIX}-delivery-recheck-domains"]
    assert recheck["spec"]["concurrencyPolicy"] == "Forbid"
    assert container(recheck)["command"] == [
        "python",
        "-m",
        "missiva_delivery",
        "recheck-domains",
    ]

    # Same pod as the service's retention run: only the command differs.
    for job in (notices, digest, document_notices, recheck):
        name = component(job)
        retention = find(manifests, "CronJob", f"{PREFIX}-{name}-retention")
        job_pod, retention_pod = pod_spec(job), pod_spec(retention)
        assert {k: v for k, v in job_pod.items() if k != "containers"} == {
            k: v for k, v in retention_pod.items() if k != "containers"
        }
        assert {k: v for k, v in container(job).items() if k != "command"} == {
            k: v for k, v in container(retention).items() if k != "command"
        }
        assert (
            job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"][
                "missiva.io/workload"
            ]
            == "job"
        )


def test_jobs_are_per_service_and_optional(chart: helm.Chart) -> None:
    manifests = render(
        chart,
        {
            "services": {
                # Removing a job set by the chart's values.
                "identity": {"jobs": {"send-legal-notices": None}},
                "analytics": {"jobs": {}},
                "campaign": {
                    "jobs": {
                        "reindex": {
                            "schedule": "15 2 * * 0",
                            "args": ["reindex", "--all"],
                            "concurrencyPolicy": "Replace",
                            "activeDeadlineSeconds": 120,
                            "backoffLimit": 0,
                        }
                    }
                },
            }
        },
    )
    assert invalid(manifests) == []
    jobs = {c["metadata"]["name"]: c for c in cron_jobs_of_workload(manifests, "job")}
    assert sorted(jobs) == [
        f"{PREFIX}-billing-expire-reservations",
        f"{PREFIX}-billing-renew-subscriptions",
        f"{PREFIX}-billing-sdi-receipts",
        f"{PREFIX}-billing-sdi-transmit",
        f"{PREFIX}-campaign-reindex",
        f"{PREFIX}-campaign-start-due",  # the chart's own, kept beside the added one
        f"{PREFIX}-consent-digest",
        f"{PREFIX}-consent-send-document-notices",
        f"{PREFIX}-delivery-recheck-domains",
    ]
    # A service with `jobs: {}` still gets its retention CronJob, and nothing else.
    analytics = [c for c in of_kind(manifests, "CronJob") if component(c) == "analytics"]
    assert [c["metadata"]["name"] for c in analytics] == [f"{PREFIX}-analytics-retention"]

    reindex = jobs[f"{PREFIX}-campaign-reindex"]
    assert container(reindex)["command"] == [
        "python",
        "-m",
        "missiva_campaign",
        "reindex",
        "--all",
    ]
    assert reindex["spec"]["concurrencyPolicy"] == "Replace"
    assert "timeZone" not in reindex["spec"]
    assert reindex["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 120
    assert reindex["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_job_names_are_truncated_like_retention(chart: helm.Chart) -> None:
    long_name = "a" * 40
    manifests = render(
        chart,
        {
            "services": {
                "campaign": {
                    "jobs": {long_name: {"schedule": "0 1 * * *", "args": ["x"]}, "start-due": None}
                }
            }
        },
    )
    assert invalid(manifests) == []
    (job,) = cron_jobs_of_workload([c for c in manifests if component(c) == "campaign"], "job")
    assert job["metadata"]["name"] == f"{PREFIX}-campaign-{long_name}"[:52]


def test_a_bad_job_entry_is_refused_by_the_schema(chart: helm.Chart) -> None:
    job = {"schedule": "0 1 * * *", "args": ["digest"]}
    with pytest.raises(helm.HelmValuesError, match="additional properties 'schedul' not allowed"):
        render(
            chart,
            {
                "services": {
                    "consent": {"jobs": {"weekly": {"schedul": "0 1 * * 0", "args": ["x"]}}}
                }
            },
        )
    with pytest.raises(
        helm.HelmValuesError, match="additional properties 'concurencyPolicy' not allowed"
    ):
        chart.validate_schema(
            {"services": {"consent": {"jobs": {"weekly": {**job, "concurencyPolicy": "Forbid"}}}}}
        )
    with pytest.raises(helm.HelmValuesError, match="missing property 'args'"):
        chart.validate_schema(
            {"services": {"consent": {"jobs": {"weekly": {"schedule": "0 1 * * 0"}}}}}
        )
    with pytest.raises(helm.HelmValuesError, match="missing property 'schedule'"):
        chart.validate_schema({"services": {"consent": {"jobs": {"weekly": {"args": ["x"]}}}}})
    with pytest.raises(helm.HelmValuesError, match="args"):
        chart.validate_schema({"services": {"consent": {"jobs": {"weekly": {**job, "args": []}}}}})
    # "retention" would collide with the retention CronJob's name.
    with pytest.raises(helm.HelmValuesError, match="invalid propertyName 'retention'"):
        chart.validate_schema({"services": {"consent": {"jobs": {"retention": job}}}})
    with pytest.raises(helm.HelmValuesError, match="invalid propertyName 'Weekly_Digest'"):
        chart.validate_schema({"services": {"consent": {"jobs": {"Weekly_Digest": job}}}})
    chart.validate_schema({"services": {"consent": {"jobs": {"weekly": job}}}})


def test_every_grpc_target_is_a_headless_service_over_the_servers_pods(
    manifests: list[Manifest],
) -> None:
    """Clients balance round robin over what a target resolves to: every replica's address,
    through a headless Service selecting exactly the pods the ClusterIP Service selects."""
    targets = {
        value
        for config in of_kind(manifests, "ConfigMap")
        for key, value in config.get("data", {}).items()
        if key.endswith("_TARGET")
    }
    assert targets == {f"dns:///{PREFIX}-{name}-pods:50051" for name in GRPC_SERVICES}
    for name in GRPC_SERVICES:
        pods = find(manifests, "Service", f"{PREFIX}-{name}-pods")["spec"]
        service = find(manifests, "Service", f"{PREFIX}-{name}")["spec"]
        assert pods["clusterIP"] == "None"
        assert pods["selector"] == service["selector"]
        assert [(p["name"], p["port"]) for p in pods["ports"]] == [("grpc", 50051)]


def test_configuration_comes_from_a_config_map_and_secrets_from_secrets(
    manifests: list[Manifest],
) -> None:
    mount = "/var/run/secrets/missiva"
    identity = find(manifests, "ConfigMap", f"{PREFIX}-identity")["data"]
    assert identity["GRPC_PORT"] == "50051"
    assert identity["HTTP_PORT"] == "9090"
    assert identity["BIND_HOST"] == "0.0.0.0"  # noqa: S104 - a pod listens on its own IP
    assert identity["JWT_SIGNING_KEYS_FILE"] == f"{mount}/jwt-signing-keys.json"
    assert identity["TOKEN_KEYRING_FILE"] == f"{mount}/token-keyring.json"
    for name in ("consent", "campaign", "delivery", "billing"):
        data = find(manifests, "ConfigMap", f"{PREFIX}-{name}")["data"]
        assert data["IDENTITY_TARGET"] == f"dns:///{PREFIX}-identity-pods:50051"
        assert data["SERVICE_CREDENTIALS_FILE"] == f"{mount}/service-credentials.json"
        assert "JWT_SIGNING_KEYS_FILE" not in data  # identity's signing keys stay with identity
    consent = find(manifests, "ConfigMap", f"{PREFIX}-consent")["data"]
    assert consent["BILLING_TARGET"] == f"dns:///{PREFIX}-billing-pods:50051"
    gateway = find(manifests, "ConfigMap", f"{PREFIX}-gateway")["data"]
    assert {k for k in gateway if k.endswith("_TARGET")} == {
        f"{name.upper()}_TARGET" for name in GRPC_SERVICES
    }
    assert gateway["HTTP_PORT"] == "8080"
    assert gateway["METRICS_PORT"] == "9090"

    delivery = container(find(manifests, "Deployment", f"{PREFIX}-delivery"))
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in delivery["env"]}
    assert secret_env == {
        "DATABASE_URL": {"name": f"{PREFIX}-delivery", "key": "DATABASE_URL"},
        "SMTP_URL": {"name": f"{PREFIX}-delivery", "key": "SMTP_URL"},
    }
    assert delivery["envFrom"] == [{"configMapRef": {"name": f"{PREFIX}-delivery"}}]
    secret_mount = next(m for m in delivery["volumeMounts"] if m["mountPath"] == mount)
    assert secret_mount["readOnly"] is True
    assert not of_kind(manifests, "Secret"), "no Secret is created unless secrets.create"


def test_existing_secret_names_are_used_as_given(chart: helm.Chart) -> None:
    manifests = render(
        chart,
        {
            "secrets": {"shared": {"existingSecret": "vault-missiva-keys"}},
            "services": {"identity": {"secret": {"existingSecret": "vault-identity"}}},
        },
    )
    identity = find(manifests, "Deployment", f"{PREFIX}-identity")
    sources = pod_spec(identity)["volumes"][1]["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == ["vault-missiva-keys", "vault-identity"]
    migrate = container(find(manifests, "Job", f"{PREFIX}-identity-migrate"))
    database_url = next(e for e in migrate["env"] if e["name"] == "DATABASE_URL")
    # The migration runs as the database's owner, the service as a role that only writes rows.
    assert database_url["valueFrom"]["secretKeyRef"] == {
        "name": "vault-identity",
        "key": "MIGRATION_DATABASE_URL",
    }


def dev_secret_values() -> dict[str, Any]:
    service_data = {
        "DATABASE_URL": "postgresql://dev@postgresql/dev",
        "MIGRATION_DATABASE_URL": "postgresql://dev_owner@postgresql/dev",
    }
    services: dict[str, Any] = {
        name: {
            "secret": {"data": dict(service_data)},
            # The chart writes each service's credentials file from its client secret.
            "serviceClient": {"clientSecret": f"dev-{name}-client-secret"},
        }
        for name in GRPC_SERVICES
    }
    services["gateway"] = {"serviceClient": {"clientSecret": "dev-gateway-client-secret"}}
    services["identity"]["secret"]["data"]["jwt-signing-keys.json"] = "{}"
    services["delivery"]["secret"]["data"]["SMTP_URL"] = "smtp://mailpit:1025"
    keys = ("token-keyring.json", "field-keys.json", "email-hash.key", "ip-salts.json")
    return {
        "secrets": {"create": True, "shared": {"data": {key: "dev" for key in keys}}},
        "services": services,
    }


def test_dev_secrets_are_created_only_from_values_that_were_given(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"secrets\.shared\.data\."):
        render(chart, {"secrets": {"create": True}})

    manifests = render(chart, dev_secret_values())
    assert invalid(manifests) == []
    secrets = {s["metadata"]["name"]: s for s in of_kind(manifests, "Secret")}
    # The gateway's holds its credential only.
    assert sorted(secrets) == sorted(
        [f"{PREFIX}-shared", *(f"{PREFIX}-{name}" for name in (*GRPC_SERVICES, "gateway"))]
    )
    assert sorted(secrets[f"{PREFIX}-gateway"]["data"]) == ["service-credentials.json"]
    # The migration hook reads DATABASE_URL, so the service Secrets are created before it.
    identity = secrets[f"{PREFIX}-identity"]["metadata"]["annotations"]
    assert identity["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(identity["helm.sh/hook-weight"]) < 0
    assert sorted(secrets[f"{PREFIX}-identity"]["data"]) == [
        "DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "jwt-signing-keys.json",
        "service-credentials.json",
    ]
    pod = find(manifests, "Deployment", f"{PREFIX}-identity")["spec"]["template"]
    assert "checksum/secret" in pod["metadata"]["annotations"]


def test_network_policies_deny_by_default_and_allow_only_the_architecture_arrows(
    manifests: list[Manifest],
) -> None:
    policies = of_kind(manifests, "NetworkPolicy")
    assert len(policies) == 7

    deny = find(manifests, "NetworkPolicy", f"{PREFIX}-default-deny")
    assert deny["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "missiva",
        "app.kubernetes.io/instance": RELEASE,
    }
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]

    def grpc_callers(name: str) -> set[str]:
        policy = find(manifests, "NetworkPolicy", f"{PREFIX}-{name}")
        callers = set()
        for rule in policy["spec"]["ingress"]:
            if rule["ports"] == [{"port": 50051, "protocol": "TCP"}]:
                for peer in rule["from"]:
                    callers.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"])
        return callers

    def grpc_callees(name: str) -> set[str]:
        policy = find(manifests, "NetworkPolicy", f"{PREFIX}-{name}")
        return {
            rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for rule in policy["spec"]["egress"]
            if rule["ports"] == [{"port": 50051, "protocol": "TCP"}]
        }

    # Every service -> identity (JWKS); gateway -> every service; consent -> every service;
    # campaign -> billing (credits are reserved before a send) and consent (a form's double
    # opt-in).
    assert grpc_callers("identity") == {"gateway", "consent", "campaign", "delivery", "billing"}
    for name in ("campaign", "delivery"):
        assert grpc_callers(name) == {"gateway", "consent"}
    assert grpc_callers("billing") == {"gateway", "consent", "campaign"}
    assert grpc_callers("consent") == {"gateway", "campaign"}
    assert grpc_callees("gateway") == set(GRPC_SERVICES)
    assert grpc_callees("consent") == {"identity", "campaign", "delivery", "billing"}
    assert grpc_callees("campaign") == {"identity", "billing", "consent"}
    assert grpc_callees("identity") == set()

    def egress_ports(name: str) -> set[int]:
        policy = find(manifests, "NetworkPolicy", f"{PREFIX}-{name}")
        return {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}

    # 443: outbound webhooks, to public addresses only.
    assert egress_ports("delivery") == {53, 4222, 5432, 25, 465, 587, 50051, 443}
    delivery = find(manifests, "NetworkPolicy", f"{PREFIX}-delivery")
    hooks = [
        r for r in delivery["spec"]["egress"] if r["ports"] == [{"port": 443, "protocol": "TCP"}]
    ]
    assert hooks[0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in hooks[0]["to"][0]["ipBlock"]["except"]
    assert egress_ports("billing") == {53, 4222, 5432, 50051}
    assert egress_ports("gateway") == {53, 50051}  # no database, no NATS, no SMTP

    gateway = find(manifests, "NetworkPolicy", f"{PREFIX}-gateway")
    # The public port from anywhere; the metrics port only from the monitoring namespace.
    assert gateway["spec"]["ingress"] == [
        {"ports": [{"port": 8080, "protocol": "TCP"}]},
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
            "ports": [{"port": 9090, "protocol": "TCP"}],
        },
    ]


def test_network_policies_can_be_switched_off(chart: helm.Chart) -> None:
    manifests = render(chart, {"networkPolicy": {"enabled": False}})
    assert not of_kind(manifests, "NetworkPolicy")
    assert len(of_kind(manifests, "Deployment")) == 6


def test_adding_a_service_is_adding_a_map_entry(chart: helm.Chart) -> None:
    manifests = render(chart, {"services": {"analytics": {"calls": ["identity", "campaign"]}}})

    assert invalid(manifests) == []
    deployment = find(manifests, "Deployment", f"{PREFIX}-analytics")
    assert container(deployment)["command"] == ["python", "-m", "missiva_analytics", "serve"]
    find(manifests, "Service", f"{PREFIX}-analytics")
    find(manifests, "Job", f"{PREFIX}-analytics-migrate")
    find(manifests, "CronJob", f"{PREFIX}-analytics-retention")
    campaign = find(manifests, "NetworkPolicy", f"{PREFIX}-campaign")
    callers = str(campaign["spec"]["ingress"])
    assert "'app.kubernetes.io/component': 'analytics'" in callers


def test_the_public_url_becomes_every_services_link_base(chart: helm.Chart) -> None:
    manifests = render(chart, {"publicUrl": "https://mail.example.com/"})
    for name in (*GRPC_SERVICES, "gateway"):
        data = find(manifests, "ConfigMap", f"{PREFIX}-{name}")["data"]
        assert data["PUBLIC_BASE_URL"] == "https://mail.example.com"
    with pytest.raises(Exception, match="publicUrl"):
        render(chart, {"publicUrl": "mail.example.com"})
