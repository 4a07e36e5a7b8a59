"""Rendering the chart offline and reading what it rendered, for the chart tests.

Rendering goes through helm-python-sdk (Helm's Go SDK behind ctypes, no helm binary, no
cluster); validation through kubernetes-validate's strict schemas, so an unknown field fails
as a real API server would refuse it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "missiva"
# The newest Kubernetes that kubernetes-validate (pinned in uv.lock) ships schemas for.
KUBERNETES_VERSION = "1.37.0"
RELEASE = "prod"
NAMESPACE = "missiva"
PREFIX = f"{RELEASE}-missiva"
GRPC_SERVICES = ("identity", "consent", "campaign", "delivery", "billing")
# Who gets a service credential: every gRPC service, and the gateway (its own service token
# for billing's RecordReferralClick).
CLIENTS = (*GRPC_SERVICES, "gateway")

Manifest = dict[str, Any]


def render(chart: helm.Chart, values: dict[str, Any] | None = None) -> list[Manifest]:
    """Render like `helm install --dry-run` would, offline; return the parsed manifests."""
    rendered = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def invalid(manifests: list[Manifest]) -> list[str]:
    """Every manifest that the strict Kubernetes schema refuses, with the reason."""
    problems = []
    for manifest in manifests:
        where = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{where}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{where}: {error.message}")
    return problems


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]
